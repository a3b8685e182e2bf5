"""The official places the block by hand when nothing in the document places it.

The dialog that a signature gets anyway (the consent or the confirmation) becomes the
placement step: it shows one page at a time, rendered in the document workers when the
companion asks for it (so at most one page image is held per question), and the block at
the profile's size; the official drags the block where it belongs and confirms. The answer
(a page and a rectangle in display-space points) comes back with the decision, over the
companion's channel, never through the page's API.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..engine.options import PlacementRequest
from ..engine.pagespace import Rect
from ..errors import Code, SignerError

if TYPE_CHECKING:  # the engine's placement imports the PDF stack
    from ..engine.placement import Spot

OFFICIAL = "official"  # ``Spot.placed_by`` of a block the official placed
FALLBACK = "fallback"  # ... and of one the profile's fallback put in free space (engine.placement)

PAGE_WIDTH_PX = 900  # how wide a page is rendered for the dialog (bounded whatever the page's size)
MARGIN_PT = 28.35  # 10 mm: where the block is first shown, from the bottom right corner of the last page


@dataclass(frozen=True)
class PageView:
    """One page as the dialog shows it."""

    png: bytes
    visible: Rect  # what the image shows, in display-space points
    pages: int

    def as_message(self, index: int) -> dict:
        return {"page": index + 1, "pages": self.pages, "box": list(self.visible),
                "png": base64.b64encode(self.png).decode()}


Render = Callable[[int], Awaitable[PageView]]  # a page (index from 0) of the document shown


@dataclass(frozen=True)
class Placed:
    """Where the official put the block: ``page`` from 1, ``rect`` in display-space points."""

    page: int
    rect: Rect
    shown_pages: int  # the page count of the document the official placed it on

    def request(self, pages: int) -> PlacementRequest:
        """The placement for a document of ``pages`` pages: the same page counted from the end
        of the document shown (a batch's other documents may be shorter or longer), the first
        page of one that has fewer."""
        return PlacementRequest(page=max(1, pages - (self.shown_pages - self.page)), rect=self.rect)



class Placing:
    """A question of where the block goes, carried by the dialog's request; the asker sets
    ``placed`` from the official's answer."""

    def __init__(self, name: str, pages: int, block: tuple[float, float], render: Render) -> None:
        self.name = name  # the document shown (a batch's first that needs it)
        self.pages = pages
        self.block = block  # the block's width and height, in points
        self.render = render
        self.placed: Placed | None = None

    def as_message(self) -> dict:
        return {"document": self.name, "pages": self.pages, "block": list(self.block),
                "start_page": self.pages, "margin": MARGIN_PT}

    async def page(self, number: object) -> dict:
        """Page ``number`` (from 1) for the dialog."""
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= self.pages:
            raise SignerError(Code.BAD_REQUEST, f"page {number!r} does not exist (the document has {self.pages})",
                              vi=f"không có trang {number!r} (văn bản có {self.pages} trang)")
        return (await self.render(number - 1)).as_message(number - 1)

    def answer(self, given: object) -> bool:
        """Take the dialog's answer ``{"page": n, "rect": [x1, y1, x2, y2]}`` (False: not one)."""
        if not isinstance(given, dict):
            return False
        page, rect = given.get("page"), given.get("rect")
        if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= self.pages:
            return False
        if not isinstance(rect, list) or len(rect) != 4 or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in rect):
            return False
        x1, y1, x2, y2 = (float(v) for v in rect)
        if x2 - x1 < 1 or y2 - y1 < 1:
            return False
        self.placed = Placed(page, (x1, y1, x2, y2), self.pages)
        return True


def spot_facts(spot: Spot | None) -> dict | None:
    """Where a block went, as replies and the audit line say it (None: an invisible signature)."""
    if spot is None:
        return None
    return {"page": spot.page + 1, "rect": [round(v, 2) for v in spot.box], "placed_by": spot.placed_by}


# said beside the result (VGCA Message, the command line) when the block is not where the page or the
# profile's texts put it
PLACED_NOTES = {
    OFFICIAL: "Vị trí chữ ký do người ký chọn / The signature was placed by the official",
    FALLBACK: "Không tìm thấy chỗ ký trong văn bản: khối chữ ký được đặt vào khoảng trống ở góc dưới bên phải "
              "trang cuối. / No place for the signature was found: the block was put in free space at the bottom "
              "right of the last page",
}


def placed_note(spot: Spot | None) -> str:
    return PLACED_NOTES.get(spot.placed_by, "") if spot is not None else ""
