"""The visible signature block of a Decree 30 profile, drawn with pyHanko's stamp machinery.

Text is set in the bundled Liberation Serif (every Vietnamese diacritic, embedded as a
subset with a ToUnicode map); the leader's signature or the organisation's seal is a
transparent PNG kept with its transparency. Times on the page are Vietnam time,
``hh:mm:ss dd/mm/yyyy +07:00``; the CMS keeps the same instant in UTC.
"""

from __future__ import annotations

import hashlib
import io
import math
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

import platformdirs
from fontTools.ttLib import TTFont
from fontTools.ttLib.scaleUpem import scale_upem
from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.font.api import FontEngine, FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import StaticStampStyle, TextStampStyle
from pyhanko.stamp.base import BaseStampStyle

from policies.profiles import Profile, copy_forms

from ..errors import Code, SignerError
from ..files import write_atomically

VIETNAM = timezone(timedelta(hours=7))
FONT_FILE = "LiberationSerif-Regular.ttf"
TEXT_SHARE_WITH_IMAGE = 0.6  # at most this part of a block's height goes to text when it shows an image


@dataclass(frozen=True)
class BlockFacts:
    """What the block's text lines may show."""

    signer: str
    organisation: str
    time: datetime
    doc_number: str = ""
    issued_date: str = ""
    copy_form: str = field(default_factory=lambda: copy_forms()[0])
    comment: str = ""


def vietnam_time(moment: datetime) -> str:
    return moment.astimezone(VIETNAM).strftime("%H:%M:%S %d/%m/%Y +07:00")


@dataclass(frozen=True)
class Block:
    """A block ready for pyHanko: its stamp style and the text for the style's ``%(block)s``."""

    style: BaseStampStyle
    text: str


def block(profile: Profile, facts: BlockFacts, image: Path | None, size: tuple[int, int], *,
          fitted: bool = False) -> Block:
    """The block of ``profile`` for a box of ``size`` points: the image on top (or filling a
    seal), the text lines under it, wrapped to the box's width, and set smaller (down to the
    profile's ``min_font_size``) when they would not fit its height. ``fitted``: the box was
    fitted to the page's free space, so text that does not fit is BLOCK_NO_ROOM."""
    background = _image(image) if profile.image != "none" and image is not None else None
    if not profile.lines:  # an image alone (the seal): no text, so no font to embed
        if background is None:
            raise SignerError(Code.CONFIG_INVALID, f"profile {profile.name} shows an image, and none is configured",
                              vi=f"mẫu chữ ký {profile.name} có hiển thị hình ảnh nhưng chưa cấu hình hình ảnh nào")
        return Block(StaticStampStyle(background=background, background_opacity=1.0, border_width=0), "")
    lines = block_lines(profile, facts)
    width, height = size
    room = height * (TEXT_SHARE_WITH_IMAGE if background is not None else 1) - 2  # the text box's margins
    # pyHanko's layout works in whole points (it keeps aspect ratios as fractions)
    least = math.ceil(profile.min_font_size)
    for font_size in range(round(profile.font_size), least - 1, -1):
        leading = round(font_size * 1.25)
        wrapped = [part for line in lines for part in wrap(line, width - 4, font_size)]
        if len(wrapped) * leading <= room:
            text_height = round((len(wrapped) + 0.5) * leading)  # the image's bottom margin
            return Block(_text_style(profile, background, font_size, leading, text_height), "\n".join(wrapped))
    if fitted:
        raise SignerError(Code.BLOCK_NO_ROOM, f"the text of the {profile.name} block does not fit in the "
                          f"{width}×{height} points free of text even at {least} pt",
                          vi=f"nội dung của khối chữ ký {profile.name} không vừa vùng trống "
                             f"{width}×{height} điểm kể cả với cỡ chữ {least} pt")
    raise SignerError(Code.BAD_REQUEST, f"the text of the {profile.name} block does not fit in {width}×{height} points "
                                     f"even at {least} pt: give a larger rectangle or a shorter text",
                      vi=f"nội dung của khối chữ ký {profile.name} không vừa khung {width}×{height} điểm "
                         f"kể cả với cỡ chữ {least} pt: hãy chọn khung lớn hơn hoặc nội dung ngắn hơn")


def block_lines(profile: Profile, facts: BlockFacts) -> list[str]:
    values = {
        "signer": facts.signer, "organisation": facts.organisation, "time": vietnam_time(facts.time),
        "doc_number": facts.doc_number, "issued_date": facts.issued_date, "copy_form": facts.copy_form,
        "comment": facts.comment,
    }
    try:
        lines = [line.format(**values) for line in profile.lines]
    except (KeyError, ValueError, IndexError) as exc:
        raise SignerError(Code.CONFIG_INVALID, f"profile {profile.name}: bad placeholder {exc}",
                          vi=f"mẫu chữ ký {profile.name}: trường thay thế không hợp lệ {exc}") from None
    return [part for line in lines for part in line.splitlines() or [""]]


def wrap(text: str, width: float, size: float) -> list[str]:
    """Break at spaces so that each line fits ``width`` points at ``size`` (a word longer
    than the line stays whole)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and text_width(candidate, size) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current or not lines else lines


def text_width(text: str, size: float) -> float:
    advances = _advances()
    cmap, fallback = advances
    return sum(cmap.get(ord(c), fallback) for c in unicodedata.normalize("NFC", text)) * size / 1000


def _text_style(profile: Profile, background: PdfImage | None, font_size: int, leading: int,
                text_height: int) -> TextStampStyle:
    text_at_bottom = layout.SimpleBoxLayoutRule(x_align=layout.AxisAlignment.ALIGN_MID,
                                                y_align=layout.AxisAlignment.ALIGN_MIN,
                                                margins=layout.Margins.uniform(1),
                                                inner_content_scaling=layout.InnerScaling.NO_SCALING)
    return TextStampStyle(
        stamp_text="%(block)s",
        text_box_style=TextBoxStyle(font=BundledFont(font_size), font_size=font_size, leading=leading),
        inner_content_layout=text_at_bottom,
        background=background,
        background_opacity=1.0,
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID, y_align=layout.AxisAlignment.ALIGN_MAX,
            margins=layout.Margins(bottom=text_height)),
        border_width=1 if profile.border else 0,
    )


@dataclass(frozen=True)
class BundledFont(FontEngineFactory):
    font_size: int

    def create_font_engine(self, writer, obj_stream=None) -> FontEngine:
        return GlyphAccumulator(writer, io.BytesIO(_font_bytes()), self.font_size, obj_stream=obj_stream)


@lru_cache(maxsize=1)
def _font_bytes() -> bytes:
    """The bundled font with its em scaled to 1000 units.

    pyHanko writes glyph widths in font units and PDF reads them per 1000 em, so the
    font must have a 1000-unit em. Scaling takes seconds: the result is kept in the
    user's cache folder, keyed by the bundled file's digest.
    """
    original = resources.files(__package__).joinpath("fonts", FONT_FILE).read_bytes()
    cached = _cache_dir() / f"{FONT_FILE.removesuffix('.ttf')}-1000em-{hashlib.sha256(original).hexdigest()[:16]}.ttf"
    try:
        return cached.read_bytes()
    except OSError:
        pass
    font = TTFont(io.BytesIO(original))
    scale_upem(font, 1000)
    if "FFTM" in font:  # a FontForge timestamp the subsetter cannot keep (and warns about)
        del font["FFTM"]
    out = io.BytesIO()
    font.save(out)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cached, out.getvalue())
    except (OSError, SignerError):
        pass  # no cache folder: scale again next time
    return out.getvalue()


def _cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("vn-token-signer")) / "fonts"


@lru_cache(maxsize=1)
def _advances() -> tuple[dict[int, int], int]:
    """Advance widths per character of the bundled font, per 1000 em."""
    font = TTFont(io.BytesIO(_font_bytes()))
    metrics = font["hmtx"].metrics
    cmap = {code: metrics[glyph][0] for code, glyph in font.getBestCmap().items()}
    return cmap, metrics[".notdef"][0]


@lru_cache(maxsize=16)
def _image(path: Path) -> PdfImage:
    try:
        image: Image.Image = Image.open(path)
        if image.mode.startswith("I"):  # 16-bit greyscale: bring it to 8 bits before adding alpha
            image = image.point(lambda v: v / 257).convert("L")
        return PdfImage(image.convert("RGBA"))
    except (OSError, UnidentifiedImageError) as exc:
        raise SignerError(Code.CONFIG_INVALID, f"signature image {path}: {exc}",
                          vi=f"hình chữ ký {path}: {exc}") from None
