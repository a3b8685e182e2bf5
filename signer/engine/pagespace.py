"""A page as the reader sees it, and as the PDF stores it.

Placement works in *display space*: points from the bottom-left corner of the media box
as the page is shown, after its ``/Rotate`` (this is what pdfminer reports for text).
Annotations live in *user space*, the page's own coordinates. A block placed on a
rotated page gets its rectangle mapped back to user space and its appearance a
``/Matrix`` that turns it the other way, so it stands upright on the screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Rect = tuple[float, float, float, float]
Point = tuple[float, float]

# The appearance's /Matrix that undoes each page rotation (rotation part only: the
# viewer fits the transformed box into the annotation's /Rect).
_UPRIGHT = {0: (1, 0, 0, 1), 90: (0, 1, -1, 0), 180: (-1, 0, 0, -1), 270: (0, -1, 1, 0)}


@dataclass(frozen=True)
class PageSpace:
    media: Rect  # the media box in user space, ordered
    rotate: int  # 0, 90, 180 or 270 (clockwise, as /Rotate)
    crop: Rect | None = None  # the crop box in user space, if the page has one

    @property
    def visible(self) -> Rect:
        """What a viewer shows (the crop box within the media box), in display space."""
        area = self.media
        if self.crop is not None:
            c = self.crop
            area = (max(area[0], c[0]), max(area[1], c[1]), min(area[2], c[2]), min(area[3], c[3]))
        return self.rect_to_display(area)

    @property
    def size(self) -> tuple[float, float]:
        """The page's width and height as displayed."""
        width, height = self.media[2] - self.media[0], self.media[3] - self.media[1]
        return (height, width) if self.rotate in (90, 270) else (width, height)

    def to_user(self, point: Point) -> Point:
        x, y = point
        x0, y0, x1, y1 = self.media
        if self.rotate == 90:
            return (x1 - y, x + y0)
        if self.rotate == 180:
            return (x1 - x, y1 - y)
        if self.rotate == 270:
            return (y + x0, y1 - x)
        return (x + x0, y + y0)

    def to_display(self, point: Point) -> Point:
        x, y = point
        x0, y0, x1, y1 = self.media
        if self.rotate == 90:
            return (y - y0, x1 - x)
        if self.rotate == 180:
            return (x1 - x, y1 - y)
        if self.rotate == 270:
            return (y1 - y, x - x0)
        return (x - x0, y - y0)

    def rect_to_user(self, rect: Rect) -> Rect:
        return _bounds(self.to_user((rect[0], rect[1])), self.to_user((rect[2], rect[3])))

    def rect_to_display(self, rect: Rect) -> Rect:
        return _bounds(self.to_display((rect[0], rect[1])), self.to_display((rect[2], rect[3])))

    @property
    def upright_matrix(self) -> tuple[float, float, float, float, float, float]:
        """The /Matrix for an appearance drawn in display orientation."""
        return (*_UPRIGHT[self.rotate], 0, 0)


def as_rect(values: Iterable[object]) -> Rect:
    """Four numbers from a PDF array (a ValueError otherwise)."""
    x1, y1, x2, y2 = (float(v) for v in values)  # type: ignore[arg-type]  # whatever the file holds
    return (x1, y1, x2, y2)


def rotation(value: object) -> int:
    """A ``/Rotate`` value as 0, 90, 180 or 270 (anything else is read as 0, like viewers do)."""
    try:
        degrees = int(value) % 360  # type: ignore[call-overload]  # whatever the file holds
    except (TypeError, ValueError):
        return 0
    return degrees if degrees in _UPRIGHT else 0


def _bounds(a: Point, b: Point) -> Rect:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1]))
