"""Where a signature block goes: a given rectangle, a page corner, below an anchor text,
or (for the seal) over the left part of the leader's existing signature.

Everything here is in display space (``pagespace``): the page as the reader sees it.

The anchor search reads the text of the last pages (``pagetext``), from the last
backwards, at most ``anchor_search_pages`` of them; both sides are compared in Unicode
NFC (and case-folded for a caller's anchor), so decomposed and precomposed diacritics match.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from policies.profiles import Profile, load_profile

from ..errors import Code, SignerError
from . import budget
from .options import PlacementRequest
from .pagespace import PageSpace, Rect, as_rect, rotation
from .pagetext import PageText, line_box, line_text, nfc
from .pagetree import leaves, lineage

RECT, ANCHOR = "rect", "anchor"  # some of the values of ``Spot.placed_by`` (the service adds "official")


@dataclass(frozen=True)
class Spot:
    page: int  # index from 0
    box: Rect  # display space
    # who chose the place: "rect" (the caller), "anchor" (a text found on the page), "official"
    # (in the companion's placement dialog), ...
    placed_by: str = RECT

    @property
    def size(self) -> tuple[int, int]:
        return (round(self.box[2] - self.box[0]), round(self.box[3] - self.box[1]))


def place(document: bytes | PageText, writer: IncrementalPdfFileWriter, profile: Profile,
          request: PlacementRequest) -> Spot:
    """Where ``profile``'s block goes; ``document``: the document, or its text when the
    caller reads it for more than the block."""
    refs = page_refs(writer)
    spot = _place(document, writer, refs, profile, request)
    x1, y1, x2, y2 = spot.box
    if not all(math.isfinite(v) for v in spot.box) or x2 - x1 < 1 or y2 - y1 < 1:
        raise SignerError(Code.BAD_REQUEST, "the block's rectangle must have a finite, non-empty size")
    px1, py1, px2, py2 = page_space(refs[spot.page]).visible
    if x2 <= px1 or x1 >= px2 or y2 <= py1 or y1 >= py2:
        raise SignerError(Code.BAD_REQUEST, "the block's rectangle lies outside the page")
    x1, y1, x2, y2 = (round(v) for v in spot.box)  # whole points, as pyHanko's layout wants
    return Spot(spot.page, (x1, y1, x2, y2), spot.placed_by)


def _place(document: bytes | PageText, writer: IncrementalPdfFileWriter, refs: list, profile: Profile,
           request: PlacementRequest) -> Spot:
    pages = len(refs)
    if request.rect is not None:
        return Spot(page_index(request.page or 1, pages), _ordered(request.rect))
    rule = profile.placement
    if request.anchor:
        page, line = find_anchor(document, (request.anchor,), whole=False, pages=pages)
        return Spot(page, below(line, profile.width, profile.height, rule.gap), ANCHOR)
    if rule.mode == "anchor":
        page, line = find_anchor(document, rule.anchors, pages=pages)
        return Spot(page, below(line, profile.width, profile.height, rule.gap), ANCHOR)
    if rule.mode == "seal":
        over = load_profile(rule.over)  # its title is the reason its signatures carry
        leader = last_signature_box(writer, reason=over.title)
        if leader is None:  # no leader's field: where the leader's block would be, by the anchor
            page, line = find_anchor(document, rule.anchors, pages=pages)
            leader = Spot(page, below(line, over.width, over.height, rule.gap))
        return Spot(leader.page, seal_over(leader.box, profile.width, profile.height, rule.overlap), ANCHOR)
    if rule.mode == "corner":
        index = page_index(rule.page, pages)
        return Spot(index, corner(page_space(refs[index]).visible, rule.corner, profile.width, profile.height,
                                  rule.margin))
    raise SignerError(Code.BAD_REQUEST, f"profile {profile.name} needs a page and rectangle, or an anchor")


def page_index(page: int, count: int) -> int:
    index = page - 1 if page > 0 else count + page
    if page == 0 or not 0 <= index < count:
        raise SignerError(Code.BAD_REQUEST, f"page {page} does not exist (the document has {count})")
    return index


def page_space(ref) -> PageSpace:
    """A page's media box, crop box and rotation (all three inherited through the page tree)."""
    media = _inherited(ref, "/MediaBox")
    if media is None:
        raise SignerError(Code.DOCUMENT_INVALID, "a page has no MediaBox")
    crop = _inherited(ref, "/CropBox")
    return PageSpace(media=_box(media, "MediaBox"), rotate=rotation(_inherited(ref, "/Rotate")),
                     crop=None if crop is None else _box(crop, "CropBox"))


def _inherited(page_ref, key: str):
    for ref in lineage(page_ref, _parent, _key):
        node = _node(ref)
        if key in node:
            return node[key]
    return None


def _box(value, name: str) -> Rect:
    try:
        return _ordered(as_rect(value))
    except (ValueError, TypeError):
        raise SignerError(Code.DOCUMENT_INVALID, f"a page's {name} is not four numbers") from None


def find_anchor(document: bytes | PageText, anchors: tuple[str, ...], *, whole: bool = True,
                pages: int | None = None) -> tuple[int, Rect]:
    """The last place in the document where one of ``anchors`` stands: a profile's anchor must be
    a whole text segment (a title line, not a mention in the body); a caller's may be part of one.
    Pages are read from the last (where signature blocks sit) backwards, up to the budget's
    ``anchor_search_pages``; ``pages``: the page count the block's placing sees, when known."""
    text = document if isinstance(document, PageText) else PageText(document)
    wanted = [nfc(a) for a in anchors]
    count = len(text) if pages is None else min(pages, len(text))
    limit = budget.current().anchor_search_pages
    for page in range(count - 1, max(count - limit, 0) - 1, -1):
        found = [line_box(chars) for chars in text.lines(page)
                 if _matches(nfc(line_text(chars)), wanted, whole)]
        if found:
            return page, min(found, key=lambda box: box[1])  # the last: lowest on the last page
    searched = f"the last {limit} of {count} pages" if count > limit else "the document"
    raise SignerError(Code.ANCHOR_NOT_FOUND, f"searched {searched} for: " + ", ".join(f"“{a}”" for a in anchors))


def _matches(text: str, wanted: list[str], whole: bool) -> bool:
    return any(text == w if whole else w.casefold() in text.casefold() for w in wanted)


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
    pages = page_refs(writer)
    refs = {ref.idnum: index for index, ref in enumerate(pages)}
    form = writer.root.get("/AcroForm")
    if form is None:
        return None
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
                found = Spot(page, page_space(pages[page]).rect_to_display(box))
                break  # the block is the field's first widget; others hold the header's number and date
    return found


def page_refs(writer: IncrementalPdfFileWriter) -> list:
    """The page objects' references, in document order (a cycle or too deep a tree refused)."""
    return leaves(writer.root.raw_get("/Pages"), _kids, _key)


def _node(ref) -> generic.DictionaryObject:
    node = ref.get_object()
    if not isinstance(node, generic.DictionaryObject):
        raise SignerError(Code.DOCUMENT_INVALID, "a page tree node is not a dictionary")
    return node


def _parent(ref):
    node = _node(ref)
    return node.raw_get("/Parent") if "/Parent" in node else None


def _kids(ref) -> Sequence | None:
    node = _node(ref)
    if node.get("/Type") != "/Pages" and "/Kids" not in node:
        return None
    kids = node.get("/Kids")
    if not isinstance(kids, generic.ArrayObject):
        raise SignerError(Code.DOCUMENT_INVALID, "a page tree node's /Kids is not an array")
    return kids


def _key(ref) -> Hashable:
    return ref.idnum if isinstance(ref, generic.IndirectObject) else id(ref)


def _ordered(rect: Rect) -> Rect:
    x1, y1, x2, y2 = rect
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
