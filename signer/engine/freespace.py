"""Free space on a page: where a block may stand without covering the page's text.

The page's text comes as line boxes (``pagetext``), in display space. A block keeps
``CLEAR_Y`` points above and below each box and ``CLEAR_X`` beside it: a line box's sides
are its glyphs' advances, while its top and bottom come from the font's ascent and descent,
which a renderer's ink may pass. Images and vector graphics are not measured.

A block is tried at its profile's size first, then lower, down to its ``min_height`` (the
appearance sets a lower block's image smaller, then its text, down to the profile's
``min_font_size``); None when even that does not fit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .pagespace import Rect

CLEAR_X = 0.5
CLEAR_Y = 3.0
STEP = 3.0  # points between the positions tried
SIZES = 5  # sizes tried from the profile's height down to its minimum


@dataclass(frozen=True)
class Fit:
    """A block's size as the profile draws it, and the lowest it may be made."""

    width: float
    height: float
    min_height: float

    def heights(self) -> list[float]:
        low = min(self.min_height, self.height)
        return [self.height - k * (self.height - low) / (SIZES - 1) for k in range(SIZES)]


def covers(box: Rect, obstacles: Sequence[Rect]) -> bool:
    x0, y0, x1, y1 = box
    return any(o[0] < x1 + CLEAR_X and o[2] > x0 - CLEAR_X and o[1] < y1 + CLEAR_Y and o[3] > y0 - CLEAR_Y
               for o in obstacles)


def hang_below(line: Rect, fit: Fit, gap: float, area: Rect, obstacles: Sequence[Rect]) -> Rect | None:
    """Centred under ``line``, ``gap`` below it, as high as the free space down to the next text
    in the block's columns allows (the profile's height at most)."""
    x0, x1 = _across(line, fit.width, area)
    top = line[1] - gap
    floor = area[1]
    for o in obstacles:
        if o[1] < top and o[0] < x1 + CLEAR_X and o[2] > x0 - CLEAR_X:  # text reaching below the block's top
            floor = max(floor, o[3] + CLEAR_Y)
    height = min(fit.height, top - floor)
    return (x0, top - height, x1, top) if height >= fit.min_height else None


def stand_above(line: Rect, fit: Fit, gap: float, area: Rect, obstacles: Sequence[Rect]) -> Rect | None:
    """Centred over ``line`` (a printed name), ``gap`` above it, as high as the free space up to
    the text above allows."""
    x0, x1 = _across(line, fit.width, area)
    bottom = line[3] + gap
    ceiling = area[3]
    for o in obstacles:
        if o[3] > bottom and o[0] < x1 + CLEAR_X and o[2] > x0 - CLEAR_X:
            ceiling = min(ceiling, o[1] - CLEAR_Y)
    height = min(fit.height, ceiling - bottom)
    return (x0, bottom, x1, bottom + height) if height >= fit.min_height else None


def free_corner(area: Rect, which: str, fit: Fit, margin: float, obstacles: Sequence[Rect],
                reach: float = 1.0) -> Rect | None:
    """The block as near ``which`` corner of ``area`` as it goes free of text, ``margin`` in from
    the edges: moved along the edge first, then away from it (at most ``reach`` of the page's
    height), at its full size before a lower one."""
    inner = (area[0] + margin, area[1] + margin, area[2] - margin, area[3] - margin)
    span = reach * (area[3] - area[1])
    for height in fit.heights():
        for y0 in _rows(inner, which, height, span):
            x0 = _column(inner, which, fit.width, (y0, y0 + height), obstacles)
            if x0 is not None:
                return (x0, y0, x0 + fit.width, y0 + height)
    return None


def seal_beside(leader: Rect, seal: Rect, fit: Fit, least: float, area: Rect,
                obstacles: Sequence[Rect]) -> Rect | None:
    """The seal ``seal`` (overlapping the leader's block ``leader``) free of text: at its size
    moved left, keeping at least ``least`` of the leader's width covered, then smaller (about
    the same middle)."""
    middle = (seal[1] + seal[3]) / 2
    for size in fit.heights():
        right = seal[2]
        while right >= leader[0] + least * (leader[2] - leader[0]):
            box = (right - size, middle - size / 2, right, middle + size / 2)
            if _inside(box, area) and not covers(box, obstacles):
                return box
            right -= STEP
    return None


def _across(line: Rect, width: float, area: Rect) -> tuple[float, float]:
    """Centred on ``line``, moved in from the page's sides when it would pass them."""
    left = (line[0] + line[2]) / 2 - width / 2
    left = max(area[0], min(left, area[2] - width))
    return left, left + width


def _rows(inner: Rect, which: str, height: float, span: float) -> Iterator[float]:
    """The bottoms of the rows a block of ``height`` may stand in, from the corner's edge inwards."""
    if which.startswith("top"):
        y0, last = inner[3] - height, max(inner[1], inner[3] - span)
        while y0 >= last:
            yield y0
            y0 -= STEP
    else:
        y0, last = inner[1], min(inner[3], inner[1] + span) - height
        while y0 <= last:
            yield y0
            y0 += STEP


def _column(inner: Rect, which: str, width: float, rows: tuple[float, float], obstacles: Sequence[Rect]
            ) -> float | None:
    """The left edge of a gap of ``width`` between the texts crossing ``rows``, nearest the corner's side."""
    blocked = sorted((o[0] - CLEAR_X, o[2] + CLEAR_X) for o in obstacles
                     if o[1] < rows[1] + CLEAR_Y and o[3] > rows[0] - CLEAR_Y)
    gaps, start = [], inner[0]
    for left, right in blocked:
        if left > start:
            gaps.append((start, min(left, inner[2])))
        start = max(start, right)
    if start < inner[2]:
        gaps.append((start, inner[2]))
    wide = [(a, b) for a, b in gaps if b - a >= width]
    if not wide:
        return None
    return wide[-1][1] - width if which.endswith("right") else wide[0][0]


def _inside(box: Rect, area: Rect) -> bool:
    return area[0] <= box[0] and area[1] <= box[1] and box[2] <= area[2] and box[3] <= area[3]
