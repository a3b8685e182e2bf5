"""Where a signature block goes: a given rectangle, a page corner, below a title line (the
profile's titles, then the certificate's), above the signer's printed name, or (for the seal)
over the left part of the leader's existing signature; when none is found, the profile's
fallback (free space at the bottom right of the last page) or ANCHOR_NOT_FOUND.

Everything here is in display space (``pagespace``): the page as the reader sees it. A block
never covers the page's text: it is fitted into the free space (``freespace``), or refused
with BLOCK_NO_ROOM.

The anchor search reads the text of the last pages (``pagetext``), from the last
backwards, at most ``anchor_search_pages`` of them; both sides are compared in Unicode
NFC (and case-folded, spacing aside), so decomposed and precomposed diacritics match.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from policies.profiles import Profile, load_profile

from ..errors import Code, SignerError
from . import budget
from .freespace import Fit, free_corner, hang_below, seal_beside, stand_above
from .options import Holder, PlacementRequest
from .pagespace import PageSpace, Rect, as_rect, rotation
from .pagetext import PageText, line_box, line_text, normalized
from .pagetree import leaves, lineage

GROUP_LEADING = 1.8  # a title group's next line starts within this many line heights
SEAL_LEAST = 0.1  # a seal moved clear of text still covers this share of the leader's block


# blocks of the caller's or the profile's own size: text that does not fit them is the request's fault
# (BAD_REQUEST), not a lack of free space
SIZED = ("rect", "corner", "seal")
CORNERS_VI = {"top-right": "trên bên phải", "top-left": "trên bên trái", "bottom-right": "dưới bên phải",
              "bottom-left": "dưới bên trái"}


@dataclass(frozen=True)
class Spot:
    page: int  # index from 0
    box: Rect  # display space
    placed_by: str = "rect"  # rect, corner, seal, anchor, title, certificate, name, fallback, official

    @property
    def fitted(self) -> bool:
        """The block was fitted to the free space it was found in."""
        return self.placed_by not in SIZED

    @property
    def size(self) -> tuple[int, int]:
        return (round(self.box[2] - self.box[0]), round(self.box[3] - self.box[1]))


@dataclass(frozen=True)
class Found:
    page: int
    line: Rect  # the last line of the title group, or the printed name
    how: str  # title, certificate, name


def place(document: bytes | PageText, writer: IncrementalPdfFileWriter, profile: Profile,
          request: PlacementRequest) -> Spot:
    """Where ``profile``'s block goes; ``document``: the document, or its text when the
    caller reads it for more than the block."""
    refs = page_refs(writer)
    text = document if isinstance(document, PageText) else PageText(document, [ref.idnum for ref in refs])
    spot = _place(text, writer, refs, profile, request)
    x1, y1, x2, y2 = spot.box
    if not all(math.isfinite(v) for v in spot.box) or x2 - x1 < 1 or y2 - y1 < 1:
        raise SignerError(Code.BAD_REQUEST, "the block's rectangle must have a finite, non-empty size",
                          vi="khung khối chữ ký phải có kích thước hữu hạn và khác không")
    px1, py1, px2, py2 = page_space(refs[spot.page]).visible
    if x2 <= px1 or x1 >= px2 or y2 <= py1 or y1 >= py2:
        raise SignerError(Code.BAD_REQUEST, "the block's rectangle lies outside the page",
                          vi="khung khối chữ ký nằm ngoài trang")
    x1, y1, x2, y2 = (round(v) for v in spot.box)  # whole points, as pyHanko's layout wants
    return Spot(spot.page, (x1, y1, x2, y2), spot.placed_by)


def _place(text: PageText, writer: IncrementalPdfFileWriter, refs: list, profile: Profile,
           request: PlacementRequest) -> Spot:
    pages = len(refs)
    fit = Fit(profile.width, profile.height, profile.min_height)
    if request.rect is not None:
        index = page_index(request.page or 1, pages)
        return Spot(index, on_page(_ordered(request.rect), page_space(refs[index]), index))
    rule = profile.placement
    if request.anchor:
        page, line = find_anchor(text, (request.anchor,), whole=False, pages=pages)
        return _below(Found(page, line, "anchor"), text, refs, profile, fit)
    if rule.mode == "anchor":
        found = find_place(text, profile, request.holder, pages)
        if found is None:
            return _fallback(text, refs, profile, request, fit)
        return _below(found, text, refs, profile, fit)
    if rule.mode == "seal":
        return _seal(text, writer, refs, profile, request, fit)
    if rule.mode == "corner":
        index = page_index(rule.page, pages)
        box = free_corner(page_space(refs[index]).visible, rule.corner, fit, rule.margin, _obstacles(text, index),
                          reach=0.5)
        if box is None:
            raise _no_room(profile, f"in the {rule.corner} half of page {index + 1}",
                           f"ở nửa {CORNERS_VI[rule.corner]} của trang {index + 1}")
        return Spot(index, box, "corner")
    raise SignerError(Code.BAD_REQUEST, f"profile {profile.name} needs a page and rectangle, or an anchor",
                      vi=f"mẫu chữ ký {profile.name} cần trang và khung, hoặc một dòng chữ làm mốc")


def on_page(rect: Rect, space: PageSpace, index: int) -> Rect:
    """A caller's rectangle, refused unless it lies wholly on the page's visible area."""
    x0, y0, x1, y1 = space.visible
    if all(math.isfinite(v) for v in rect) and not (x0 <= rect[0] and y0 <= rect[1] and rect[2] <= x1
                                                    and rect[3] <= y1):
        raise SignerError(Code.BAD_REQUEST, f"the rectangle {','.join(f'{v:g}' for v in rect)} does not lie on "
                          f"page {index + 1}, which shows {x0:g},{y0:g} to {x1:g},{y1:g} "
                          f"({x1 - x0:g}×{y1 - y0:g} points)",
                          vi=f"khung {','.join(f'{v:g}' for v in rect)} không nằm trên "
                             f"trang {index + 1}, vùng hiển thị của trang từ {x0:g},{y0:g} đến {x1:g},{y1:g} "
                             f"({x1 - x0:g}×{y1 - y0:g} điểm)")
    return rect


def _below(found: Found, text: PageText, refs: list, profile: Profile, fit: Fit) -> Spot:
    """The block under the title line (or over the printed name), fitted to the free space."""
    area = page_space(refs[found.page]).visible
    obstacles = _obstacles(text, found.page)
    gap = profile.placement.gap
    box = (stand_above if found.how == "name" else hang_below)(found.line, fit, gap, area, obstacles)
    if box is None:
        where, where_vi = (("above the printed name", "phía trên họ tên đã in") if found.how == "name"
                           else ("below the title line", "phía dưới dòng chức danh"))
        raise _no_room(profile, f"{where} on page {found.page + 1}", f"{where_vi} trên trang {found.page + 1}")
    return Spot(found.page, box, found.how)


def _seal(text: PageText, writer: IncrementalPdfFileWriter, refs: list, profile: Profile,
          request: PlacementRequest, fit: Fit) -> Spot:
    rule = profile.placement
    over = load_profile(rule.over)  # its title is the reason its signatures carry
    leader = last_signature_box(writer, reason=over.title)
    if leader is not None:
        leader = replace(leader, placed_by="seal")  # over the leader's signature, as the profile says
    else:  # no leader's field: where the leader's block would be, by its title
        found = find_place(text, profile, request.holder, len(refs))
        if found is None:
            return _fallback(text, refs, profile, request, fit)
        leader = Spot(found.page, below(found.line, over.width, over.height, rule.gap), found.how)
    seal = seal_over(leader.box, profile.width, profile.height, rule.overlap)
    box = seal_beside(leader.box, seal, fit, SEAL_LEAST, page_space(refs[leader.page]).visible,
                      _obstacles(text, leader.page))
    if box is None:
        raise _no_room(profile, f"beside the leader's block on page {leader.page + 1}",
                       f"bên cạnh khối chữ ký của lãnh đạo trên trang {leader.page + 1}")
    return Spot(leader.page, box, leader.placed_by)


def _fallback(text: PageText, refs: list, profile: Profile, request: PlacementRequest, fit: Fit) -> Spot:
    """Nothing found: the profile's fallback, unless someone will be asked (``request.fallback``)."""
    rule = profile.placement
    if not request.fallback or rule.fallback != "free-corner":
        searched, searched_vi = _searched(text, profile, request.holder, len(refs))
        raise SignerError(Code.ANCHOR_NOT_FOUND, searched, vi=searched_vi)
    index = len(refs) - 1
    box = free_corner(page_space(refs[index]).visible, "bottom-right", fit, rule.margin, _obstacles(text, index))
    if box is None:
        raise _no_room(profile, f"no title was found, and the last page (page {index + 1}) has no free space",
                       f"không tìm thấy dòng chức danh, và trang cuối (trang {index + 1}) không còn chỗ trống")
    return Spot(index, box, "fallback")


def find_place(text: PageText, profile: Profile, holder: Holder | None, pages: int) -> Found | None:
    """The title group's last line (the profile's titles, then the certificate's title), or the
    printed name, on the last page that has one."""
    rule = profile.placement
    stages: list[tuple[str, tuple[str, ...]]] = [("title", rule.anchors)]
    if holder is not None and holder.title.strip():
        stages.append(("certificate", (holder.title,)))
    for how, titles in stages:
        found = _search(text, title_matcher(titles, rule.prefixes), pages)
        if found is not None:
            return Found(found[0], _group_end(text.lines(found[0]), found[1]), how)
    if holder is not None and holder.name.strip():
        name = normalized(holder.name)
        found = _search(text, lambda line: normalized(line) == name, pages)
        if found is not None:
            return Found(found[0], found[1], "name")
    return None


def title_matcher(titles: Sequence[str], prefixes: Sequence[str]) -> Callable[[str], bool]:
    """A whole text segment that is one of ``titles``, alone or after one of ``prefixes``."""
    wanted = {normalized(t) for t in titles}
    heads = [normalized(p) for p in prefixes]

    def matches(line: str) -> bool:
        text = normalized(line)
        return text in wanted or any(text.startswith(h) and text[len(h):].strip() in wanted for h in heads)
    return matches


def _search(text: PageText, matches: Callable[[str], bool], pages: int) -> tuple[int, Rect] | None:
    count = min(pages, len(text))
    limit = budget.current().anchor_search_pages
    for page in range(count - 1, max(count - limit, 0) - 1, -1):
        found = [line_box(chars) for chars in text.lines(page) if matches(line_text(chars))]
        if found:
            return page, min(found, key=lambda box: box[1])  # the last: lowest on the last page
    return None


def _group_end(lines: list, line: Rect) -> Rect:
    """The title group's last line: a line just under ``line`` and across its middle ("KT. CHỦ
    TỊCH" over "PHÓ CHỦ TỊCH"), or ``line`` itself."""
    height = line[3] - line[1]
    middle = (line[0] + line[2]) / 2
    under = [box for box in map(line_box, lines)
             if box[3] <= line[1] and line[1] - box[3] < (GROUP_LEADING - 1) * height + height / 2
             and box[0] <= middle <= box[2]]
    return max(under, key=lambda box: box[1]) if under else line


def _searched(text: PageText, profile: Profile, holder: Holder | None, pages: int) -> tuple[str, str]:
    """What was looked for where, in English and Vietnamese."""
    sought = [*profile.placement.anchors]
    if holder is not None:
        sought += [value for value in (holder.title, holder.name) if value.strip()]
    where, where_vi = _search_range(min(pages, len(text)))
    quoted = ", ".join(f"“{value}”" for value in sought)
    return f"searched {where} for: {quoted}", f"đã tìm trong {where_vi} các dòng chữ: {quoted}"


def _search_range(count: int) -> tuple[str, str]:
    limit = budget.current().anchor_search_pages
    if count > limit:
        return f"the last {limit} of {count} pages", f"{limit} trang cuối trong số {count} trang"
    return "the document", "toàn bộ văn bản"


def _obstacles(text: PageText, page: int) -> list[Rect]:
    return [line_box(chars) for chars in text.lines(page)]


def _no_room(profile: Profile, where: str, where_vi: str) -> SignerError:
    return SignerError(Code.BLOCK_NO_ROOM, f"the {profile.name} block needs at least "
                       f"{profile.width:g}×{profile.min_height:g} points free of text {where}",
                       vi=f"khối chữ ký {profile.name} cần vùng trống không có chữ ít nhất "
                          f"{profile.width:g}×{profile.min_height:g} điểm {where_vi}")


def page_index(page: int, count: int) -> int:
    index = page - 1 if page > 0 else count + page
    if page == 0 or not 0 <= index < count:
        raise SignerError(Code.BAD_REQUEST, f"page {page} does not exist (the document has {count})",
                          vi=f"không có trang {page} (văn bản có {count} trang)")
    return index


def page_space(ref) -> PageSpace:
    """A page's media box, crop box and rotation (all three inherited through the page tree)."""
    media = _inherited(ref, "/MediaBox")
    if media is None:
        raise SignerError(Code.DOCUMENT_INVALID, "a page has no MediaBox", vi="một trang không có MediaBox")
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
        raise SignerError(Code.DOCUMENT_INVALID, f"a page's {name} is not four numbers",
                          vi=f"{name} của một trang không phải là bốn con số") from None


def find_anchor(document: bytes | PageText, anchors: tuple[str, ...], *, whole: bool = True,
                pages: int | None = None) -> tuple[int, Rect]:
    """The last place in the document where one of ``anchors`` stands: a profile's anchor must be
    a whole text segment (a title line, not a mention in the body); a caller's may be part of one.
    Pages are read from the last (where signature blocks sit) backwards, up to the budget's
    ``anchor_search_pages``; ``pages``: the page count the block's placing sees, when known."""
    text = document if isinstance(document, PageText) else PageText(document)
    wanted = [normalized(a) for a in anchors]
    count = len(text) if pages is None else min(pages, len(text))
    found = _search(text, lambda line: _matches(normalized(line), wanted, whole), count)
    if found is not None:
        return found
    where, where_vi = _search_range(count)
    quoted = ", ".join(f"“{a}”" for a in anchors)
    raise SignerError(Code.ANCHOR_NOT_FOUND, f"searched {where} for: {quoted}",
                      vi=f"đã tìm trong {where_vi} các dòng chữ: {quoted}")


def _matches(text: str, wanted: list[str], whole: bool) -> bool:
    return any(text == w if whole else w in text for w in wanted)


def below(line: Rect, width: float, height: float, gap: float) -> Rect:
    centre = (line[0] + line[2]) / 2
    top = line[1] - gap
    return (centre - width / 2, top - height, centre + width / 2, top)


def seal_over(leader: Rect, width: float, height: float, overlap: float) -> Rect:
    """The seal's right edge lies ``overlap`` of the way into the leader's block, from its left."""
    right = leader[0] + overlap * (leader[2] - leader[0])
    middle = (leader[1] + leader[3]) / 2
    return (right - width, middle - height / 2, right, middle + height / 2)


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
        raise SignerError(Code.DOCUMENT_INVALID, "a page tree node is not a dictionary",
                          vi="một nút của cây trang không phải là từ điển (dictionary)")
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
        raise SignerError(Code.DOCUMENT_INVALID, "a page tree node's /Kids is not an array",
                          vi="mục /Kids của một nút trong cây trang không phải là mảng")
    return kids


def _key(ref) -> Hashable:
    return ref.idnum if isinstance(ref, generic.IndirectObject) else id(ref)


def _ordered(rect: Rect) -> Rect:
    x1, y1, x2, y2 = rect
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
