"""What a Decree 30 signature block will look like on the page, without a token.

The block is drawn into the page content in memory with the same pyHanko stamp style
a real signature uses, the page is rendered with PDFium, and the block's rectangle is
outlined (dashed, just outside it) so that a block without a border still shows.
"""

from __future__ import annotations

import io

import pypdfium2 as pdfium
from PIL import Image, ImageDraw
from pyhanko.pdf_utils import layout, misc

from ..errors import SignerError
from .appearance import BlockFacts, block_text, stamp_style
from .pdf import PdfSignOptions, _profile, _reason, open_pdf
from .placement import Spot, place

OUTLINE = (255, 128, 0)  # orange: neither the blue signature, the red seal nor black text
DASH = 6  # pixels


def preview_png(data: bytes, options: PdfSignOptions, facts: BlockFacts, *, scale: float = 1.5) -> bytes:
    """The page the block of ``options.profile`` goes on, as a PNG, with the block drawn.

    Placement and image come from ``options``, the text from ``facts``. Without
    ``options.image`` the block shows its text only (an image-only seal: just the outline).
    """
    if not scale > 0:
        raise SignerError("BAD_REQUEST", f"the scale must be positive, not {scale}")
    stamped, spot = stamp_block(data, options, facts)
    image = _render(stamped, spot, scale)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def stamp_block(data: bytes, options: PdfSignOptions, facts: BlockFacts) -> tuple[bytes, Spot]:
    """The document with the block painted into its page (no signature field), and where it went."""
    profile = _profile(options.profile)
    if profile is None:
        raise SignerError("BAD_REQUEST", "a preview needs a signature profile")
    writer = open_pdf(data)
    spot = place(data, writer, profile, options.placement)
    x1, y1, x2, y2 = (int(v) for v in spot.box)  # place() gives whole points
    if x2 - x1 < 1 or y2 - y1 < 1:
        raise SignerError("BAD_REQUEST", f"the block rectangle {spot.box} is empty")
    if not profile.lines and (profile.image == "none" or options.image is None):
        return data, spot  # nothing to draw: the outline alone shows the place
    try:
        style = stamp_style(profile, options.image)
        stamp = style.create_stamp(writer, layout.BoxConstraints(x2 - x1, y2 - y1),
                                   {"block": block_text(profile, facts)})
        stamp.apply(spot.page, x1, y1)
        out = io.BytesIO()
        writer.write(out)
    except SignerError:
        raise
    except (misc.PdfError, layout.LayoutError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise SignerError("DOCUMENT_INVALID", _reason(exc)) from None
    return out.getvalue(), spot


def _render(data: bytes, spot: Spot, scale: float) -> Image.Image:
    try:
        document = pdfium.PdfDocument(data)
        try:
            page = document[spot.page]
            bitmap = page.render(scale=scale)
            to_pixels = bitmap.get_posconv(page).to_bitmap
            corners = [to_pixels(spot.box[0], spot.box[1]), to_pixels(spot.box[2], spot.box[3])]
            image = bitmap.to_pil().convert("RGB")
        finally:
            document.close()
    except pdfium.PdfiumError as exc:
        raise SignerError("DOCUMENT_INVALID", f"cannot render page {spot.page + 1} ({exc})") from None
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
