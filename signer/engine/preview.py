"""What a Decree 30 signature block will look like on the page, without a token.

The block is added to the page in memory as an annotation with the same appearance
(and the same placement, upright on rotated pages) a real signature gets, the page
is rendered with PDFium, and the block's rectangle is
outlined (dashed, just outside it) so that a block without a border still shows.

PDFium decodes in C, where no Python cap reaches: a document comes here only after
pyHanko and pdfminer have read it within the decoding caps (placing the block reads the
page's text), the bitmap is kept to ``MAX_PIXELS`` whatever the page's declared size, and
what is left (a page's images) is bounded by the memory limit of the process it runs in.
"""

from __future__ import annotations

import io

import pypdfium2 as pdfium
from PIL import Image, ImageDraw
from pyhanko.pdf_utils import generic, layout

from ..errors import Code, SignerError
from .appearance import BlockFacts, block
from .pagespace import Rect
from .pdf import PdfSignOptions, _profile, open_pdf, plan_block
from .placement import Spot, page_refs, page_space
from .reading import reading
from .widgets import PlacedStyle

OUTLINE = (255, 128, 0)  # orange: neither the blue signature, the red seal nor black text
DASH = 6  # pixels
# The largest bitmap rendered (an A4 page at scale 1.5 is 1.1 million pixels; a page may
# declare itself 200 inches square): 4 bytes a pixel, 64 MB.
MAX_PIXELS = 16_000_000


def preview_png(data: bytes, options: PdfSignOptions, facts: BlockFacts, *, scale: float = 1.5) -> bytes:
    """The page the block of ``options.profile`` goes on, as a PNG, with the block drawn.

    Placement and image come from ``options``, the text from ``facts``. Without
    ``options.image`` the block shows its text only (an image-only seal: just the outline).
    """
    return placed_preview(data, options, facts, scale=scale)[0]


def placed_preview(data: bytes, options: PdfSignOptions, facts: BlockFacts, *, scale: float = 1.5
                   ) -> tuple[bytes, Spot]:
    """``preview_png``, and where the block went (and what placed it)."""
    if not scale > 0:
        raise SignerError(Code.BAD_REQUEST, f"the scale must be positive, not {scale}",
                          vi=f"tỉ lệ phải là số dương, không phải {scale}")
    stamped, spot, user_box = stamp_block(data, options, facts)
    image = _render(stamped, spot.page, user_box, scale)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue(), spot


def page_png(data: bytes, index: int, width_px: int) -> tuple[bytes, Rect, int]:
    """Page ``index`` (from 0) as the reader sees it, ``width_px`` wide at most (never enlarged
    past 2 pixels a point): the PNG, the visible box it shows (display space) and the page
    count. For the official to place a block by hand."""
    writer = open_pdf(data)
    with reading():
        refs = page_refs(writer)
        if not 0 <= index < len(refs):
            raise SignerError(Code.BAD_REQUEST, f"page {index + 1} does not exist (the document has {len(refs)})",
                              vi=f"không có trang {index + 1} (văn bản có {len(refs)} trang)")
        visible = page_space(refs[index]).visible
    scale = min(2.0, width_px / max(visible[2] - visible[0], 1))
    image = _render(data, index, None, scale)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue(), visible, len(refs)


def stamp_block(data: bytes, options: PdfSignOptions, facts: BlockFacts) -> tuple[bytes, Spot, Rect]:
    """The document with the block as a plain annotation on its page (no signature field),
    where it went, and its rectangle in the page's own coordinates."""
    profile = _profile(options.profile)
    if profile is None:
        raise SignerError(Code.BAD_REQUEST, "a preview needs a signature profile", vi="xem trước cần có mẫu chữ ký")
    writer = open_pdf(data)
    plan = plan_block(data, writer, profile, options)
    spot = plan.spot
    with reading():
        space = page_space(page_refs(writer)[spot.page])
        user_box = space.rect_to_user(spot.box)
        if not profile.lines and (profile.image == "none" or options.image is None):
            return data, spot, user_box  # nothing to draw: the outline alone shows the place
        look = block(profile, facts, options.image, spot.size, fitted=spot.fitted)
        placed = PlacedStyle(look.style, spot.box, space)
        annot = generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Stamp"),
            generic.NameObject("/F"): generic.NumberObject(4),
        })
        placed.create_stamp(writer, layout.BoxConstraints(*spot.size), {"block": look.text}).apply_appearance(annot)
        page_ref = writer.find_page_for_modification(spot.page)[0]
        writer.register_annotation(page_ref, writer.add_object(annot))
        out = io.BytesIO()
        writer.write(out)
    return out.getvalue(), spot, user_box


def _render(data: bytes, page_index: int, box: Rect | None, scale: float) -> Image.Image:
    """The page, with ``box`` (page coordinates) outlined unless None."""
    try:
        document = pdfium.PdfDocument(data)
        try:
            page = document[page_index]
            width, height = page.get_size()
            scale = min(scale, (MAX_PIXELS / max(width * height, 1)) ** 0.5)
            bitmap = page.render(scale=scale)
            to_pixels = bitmap.get_posconv(page).to_bitmap
            corners = None if box is None else [to_pixels(box[0], box[1]), to_pixels(box[2], box[3])]
            image = bitmap.to_pil().convert("RGB")
        finally:
            document.close()
    except pdfium.PdfiumError as exc:
        raise SignerError(Code.DOCUMENT_INVALID, f"cannot render page {page_index + 1} ({exc})",
                          vi=f"không hiển thị được trang {page_index + 1} ({exc})") from None
    if corners is not None:
        _outline(image, corners)
    return image


def _outline(image: Image.Image, corners: list[tuple[int, int]]) -> None:
    """A dashed rectangle one pixel outside the block, whatever the page rotation."""
    (ax, ay), (bx, by) = corners
    left, right = min(ax, bx) - 1, max(ax, bx)
    top, bottom = min(ay, by) - 1, max(ay, by)
    draw = ImageDraw.Draw(image)
    for x in range(left, right, 2 * DASH):
        end = min(x + DASH, right)
        draw.line([(x, top), (end, top)], fill=OUTLINE)
        draw.line([(x, bottom), (end, bottom)], fill=OUTLINE)
    for y in range(top, bottom, 2 * DASH):
        end = min(y + DASH, bottom)
        draw.line([(left, y), (left, end)], fill=OUTLINE)
        draw.line([(right, y), (right, end)], fill=OUTLINE)
