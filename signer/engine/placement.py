"""Where a signature block goes: a given rectangle, a page corner, below an anchor text,
or (for the seal) over the left part of the leader's existing signature.

Everything here is in display space (``pagespace``): the page as the reader sees it.

Anchor search reads the page text with pdfminer, which joins text split across
several text-show operators into lines; both sides are compared in Unicode NFC and
case-folded, so decomposed and precomposed diacritics match.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from pdfminer.high_level import extract_pages
from pdfminer.layout import LTChar
from pdfminer.pdfparser import PDFSyntaxError
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from policies.profiles import Profile, load_profile

from ..errors import Code, SignerError
from .options import PlacementRequest
from .pagespace import PageSpace, Rect, as_rect, rotation


@dataclass(frozen=True)
class Spot:
    page: int  # index from 0
    box: Rect  # display space

    @property
    def size(self) -> tuple[int, int]:
        return (round(self.box[2] - self.box[0]), round(self.box[3] - self.box[1]))


def place(data: bytes, writer: IncrementalPdfFileWriter, profile: Profile, request: PlacementRequest) -> Spot:
    spot = _place(data, writer, profile, request)
    x1, y1, x2, y2 = spot.box
    if not all(math.isfinite(v) for v in spot.box) or x2 - x1 < 1 or y2 - y1 < 1:
        raise SignerError(Code.BAD_REQUEST, "the block's rectangle must have a finite, non-empty size")
    px1, py1, px2, py2 = page_spaces(writer)[spot.page].visible
    if x2 <= px1 or x1 >= px2 or y2 <= py1 or y1 >= py2:
        raise SignerError(Code.BAD_REQUEST, "the block's rectangle lies outside the page")
    x1, y1, x2, y2 = (round(v) for v in spot.box)  # whole points, as pyHanko's layout wants
    return Spot(spot.page, (x1, y1, x2, y2))


def _place(data: bytes, writer: IncrementalPdfFileWriter, profile: Profile, request: PlacementRequest) -> Spot:
    pages = [space.visible for space in page_spaces(writer)]
    if request.rect is not None:
        return Spot(page_index(request.page or 1, len(pages)), _ordered(request.rect))
    rule = profile.placement
    if request.anchor:
        page, line = find_anchor(data, (request.anchor,), whole=False, pages=len(pages))
        return Spot(page, below(line, profile.width, profile.height, rule.gap))
    if rule.mode == "anchor":
        page, line = find_anchor(data, rule.anchors, pages=len(pages))
        return Spot(page, below(line, profile.width, profile.height, rule.gap))
    if rule.mode == "seal":
        over = load_profile(rule.over)  # its title is the reason its signatures carry
        leader = last_signature_box(writer, reason=over.title)
        if leader is None:  # no leader's field: where the leader's block would be, by the anchor
            page, line = find_anchor(data, rule.anchors, pages=len(pages))
            leader = Spot(page, below(line, over.width, over.height, rule.gap))
        return Spot(leader.page, seal_over(leader.box, profile.width, profile.height, rule.overlap))
    if rule.mode == "corner":
        index = page_index(rule.page, len(pages))
        return Spot(index, corner(pages[index], rule.corner, profile.width, profile.height, rule.margin))
    raise SignerError(Code.BAD_REQUEST, f"profile {profile.name} needs a page and rectangle, or an anchor")


def page_index(page: int, count: int) -> int:
    index = page - 1 if page > 0 else count + page
    if page == 0 or not 0 <= index < count:
        raise SignerError(Code.BAD_REQUEST, f"page {page} does not exist (the document has {count})")
    return index


def page_spaces(writer: IncrementalPdfFileWriter) -> list[PageSpace]:
    """Each page's media box, crop box and rotation (all three inherited through the page tree)."""
    spaces = []
    for ref in page_refs(writer):
        page = ref.get_object()
        media = _inherited(page, "/MediaBox")
        if media is None:
            raise SignerError(Code.DOCUMENT_INVALID, "a page has no MediaBox")
        crop = _inherited(page, "/CropBox")
        spaces.append(PageSpace(media=_ordered(as_rect(media)),
                                rotate=rotation(_inherited(page, "/Rotate")),
                                crop=None if crop is None else _ordered(as_rect(crop))))
    return spaces


def _inherited(node, key: str):
    for _ in range(64):  # a page tree deeper than this is broken
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        if parent is None:
            return None
        node = parent.get_object()
    return None


def find_anchor(data: bytes, anchors: tuple[str, ...], *, whole: bool = True, pages: int | None = None
                ) -> tuple[int, Rect]:
    """The last place in the document where one of ``anchors`` stands: a profile's anchor must be
    a whole text segment (a title line, not a mention in the body); a caller's may be part of one.
    Pages are read from the last (where signature blocks sit) backwards."""
    wanted = [_nfc(a) for a in anchors]
    order = range(pages - 1, -1, -1) if pages else [None]
    for page in order:
        found = []
        for page_number, chars in char_lines(data, None if page is None else [page]):
            text = _nfc(line_text(chars))
            if any(text == w if whole else w.casefold() in text.casefold() for w in wanted):
                found.append((page_number, line_box(chars)))
        if found:
            return max(found, key=lambda hit: (hit[0], -hit[1][1]))  # the last: lowest on the last page
    raise SignerError(Code.ANCHOR_NOT_FOUND, "searched for: " + ", ".join(f"“{a}”" for a in anchors))


def below(line: Rect, width: float, height: float, gap: float) -> Rect:
    centre = (line[0] + line[2]) / 2
    top = line[1] - gap
    return (centre - width / 2, top - height, centre + width / 2, top)


def seal_over(leader: Rect, width: float, height: float, overlap: float) -> Rect:
    """The seal's right edge lies ``overlap`` of the way into the leader's block, from its left."""
    right = leader[0] + overlap * (leader[2] - leader[0])
    middle = (leader[1] + leader[3]) / 2
    return (right - width, middle - height / 2, right, middle + height / 2)


def corner(page: Rect, which: str, width: float, height: float, margin: float) -> Rect:
    x0, y0, x1, y1 = page
    left = x0 + margin if which.endswith("left") else x1 - margin - width
    bottom = y1 - margin - height if which.startswith("top") else y0 + margin
    return (left, bottom, left + width, bottom + height)


def last_signature_box(writer: IncrementalPdfFileWriter, reason: str | None = None) -> Spot | None:
    """The widget of the last visible signature field already in the document (with ``reason``)."""
    refs = {ref.idnum: index for index, ref in enumerate(page_refs(writer))}
    form = writer.root.get("/AcroForm")
    if form is None:
        return None
    spaces = page_spaces(writer)
    found = None
    for field_ref in form.get_object().get("/Fields", generic.ArrayObject()):
        field = field_ref.get_object()
        if field.get("/FT") != "/Sig" or "/V" not in field:
            continue
        if reason is not None and str(field["/V"].get_object().get("/Reason", "")) != reason:
            continue
        for widget in [field, *[k.get_object() for k in field.get("/Kids", [])]]:
            rect = widget.get("/Rect")
            page_ref = widget.raw_get("/P") if "/P" in widget else None
            if rect is None or page_ref is None:
                continue
            box = _ordered(as_rect(rect))
            if box[2] - box[0] > 1 and box[3] - box[1] > 1 and page_ref.idnum in refs:
                page = refs[page_ref.idnum]
                found = Spot(page, spaces[page].rect_to_display(box))
                break  # the block is the field's first widget; others hold the header's number and date
    return found


def page_refs(writer: IncrementalPdfFileWriter) -> list:
    refs = []

    def walk(node_ref) -> None:
        node = node_ref.get_object()
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            for kid in node["/Kids"]:
                walk(kid)
        else:
            refs.append(node_ref)

    walk(writer.root.raw_get("/Pages"))
    return refs


def char_lines(data: bytes, pages: list[int] | None = None) -> list[tuple[int, list[LTChar]]]:
    """Text segments rebuilt from characters by baseline, left to right, split where columns
    part: robust to text drawn with many text-show operators and to stacked diacritics
    some producers place on their own."""
    lines = []
    try:
        layouts = extract_pages(io.BytesIO(data), laparams=None, page_numbers=pages)
        for position, layout in enumerate(layouts):
            page_number = pages[position] if pages else position
            by_baseline: dict[int, list[LTChar]] = {}
            for char in _chars(layout):
                by_baseline.setdefault(round(char.matrix[5]), []).append(char)
            for chars in by_baseline.values():
                lines += [(page_number, segment) for segment in _segments(sorted(chars, key=lambda c: c.x0))]
    except (PDFSyntaxError, ValueError, KeyError, TypeError) as exc:
        raise SignerError(Code.DOCUMENT_INVALID, f"cannot read the page text ({type(exc).__name__})") from None
    return lines


def _segments(chars: list[LTChar]) -> list[list[LTChar]]:
    """Split a baseline where the gap is wider than two ems: two columns, not one line."""
    segments = [[chars[0]]]
    for char in chars[1:]:
        previous = segments[-1][-1]
        if char.x0 - previous.x1 > 2 * max(char.size, previous.size):
            segments.append([char])
        else:
            segments[-1].append(char)
    return segments


def line_text(chars: list[LTChar]) -> str:
    text, previous = "", None
    for char in chars:
        if previous is not None and char.x0 - previous.x1 > 0.25 * char.size:
            text += " "
        text += char.get_text()
        previous = char
    return text


def line_box(chars: list[LTChar]) -> Rect:
    return (min(c.x0 for c in chars), min(c.y0 for c in chars), max(c.x1 for c in chars), max(c.y1 for c in chars))


def _chars(item) -> list[LTChar]:
    if isinstance(item, LTChar):
        return [item]
    if isinstance(item, Iterable):
        return [char for child in item for char in _chars(child)]
    return []


def normalized(text: str) -> str:
    return " ".join(_nfc(text).casefold().split())


def _nfc(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _ordered(rect: Rect) -> Rect:
    x1, y1, x2, y2 = rect
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
