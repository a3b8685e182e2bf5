"""Writing the document number and the issuing date into their places in the header.

The issued profile fills the dotted blanks of "Số: ......./QĐ-UBND" and of
"..., ngày ... tháng ... năm ...", in the bundled font at the line's size, over a
white patch, as part of the same incremental update as the clerk's signature.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from pdfminer.layout import LTChar
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from ..errors import SignerError
from .appearance import BundledFont
from .placement import char_lines, normalized


@dataclass(frozen=True)
class Blank:
    page: int
    x0: float
    x1: float
    baseline: float
    size: float
    text: str  # what goes there
    field: str  # "number" or "date"


def fill_header(writer: IncrementalPdfFileWriter, data: bytes, doc_number: str, issued_date: str) -> None:
    """Fill the number and date blanks of the first page's header; refuse when one is missing."""
    blanks = find_blanks(data, doc_number, issued_date)
    if doc_number and not any(b.field == "number" for b in blanks):
        raise SignerError("ANCHOR_NOT_FOUND", "searched for: “Số: ....” on page 1")
    if issued_date and not any(b.field == "date" for b in blanks):
        raise SignerError("ANCHOR_NOT_FOUND", "searched for: “ngày ... tháng ... năm ...” on page 1")
    if blanks:
        _write(writer, 0, blanks)


def find_blanks(data: bytes, doc_number: str, issued_date: str) -> list[Blank]:
    blanks: list[Blank] = []
    day = _date(issued_date) if issued_date else None
    for page, chars in char_lines(data, [0]):  # the header is on page 1
        text = "".join(c.get_text() for c in chars)
        folded = normalized(text)
        if doc_number and "số:" in folded:
            number = doc_number.split("/", 1)[0] if "/" in text else doc_number
            blanks += _dots_after(page, chars, "Số:", number, "number")
        if day and "ngày" in folded and "tháng" in folded and "năm" in folded:
            for word, value in (("ngày", _day(day.day)), ("tháng", _month(day.month)), ("năm", str(day.year))):
                blanks += _dots_after(page, chars, word, value, "date")
            day = None  # only the first date line
    return blanks


def _dots_after(page: int, chars: list[LTChar], word: str, value: str, field: str) -> list[Blank]:
    """The run of dots that follows ``word`` on the line, if any."""
    text = "".join(unicodedata.normalize("NFC", c.get_text())[:1] or " " for c in chars)
    start = text.casefold().find(word.casefold())  # one position per character, like ``chars``
    if start < 0:
        return []
    index = start + len(word)
    while index < len(chars) and chars[index].get_text() == " ":
        index += 1
    end = index
    while end < len(chars) and chars[end].get_text() in ".…":
        end += 1
    if end == index:
        return []
    run = chars[index:end]
    return [Blank(page=page, x0=run[0].x0, x1=run[-1].x1, baseline=run[0].matrix[5], size=run[0].size, text=value,
                  field=field)]


def _write(writer: IncrementalPdfFileWriter, page: int, blanks: list[Blank]) -> None:
    """Each filled blank is a print annotation with its own appearance: a white patch and the
    text. Annotations, not page content, so the leader's signature sees only an added
    annotation, and no transform the page leaves open can move them."""
    page_ref = writer.find_page_for_modification(page)[0]
    engines = {}
    for blank in blanks:
        size = round(blank.size)
        if size not in engines:
            engines[size] = BundledFont(size).create_font_engine(writer)
        shaped = engines[size].shape(blank.text)
        width = shaped.x_advance * blank.size
        centre = (blank.x0 + blank.x1) / 2
        # the white patch covers the dots and room for a number longer than they are
        left, right = min(blank.x0, centre - width / 2) - 1, max(blank.x1, centre + width / 2) + 1
        bottom, top = blank.baseline - 0.3 * blank.size, blank.baseline + 0.9 * blank.size
        ops = (b"1 1 1 rg %.2f %.2f %.2f %.2f re f\n" % (left, bottom, right - left, top - bottom)
               + b"0 0 0 rg BT /F1 %d Tf %.2f %.2f Td " % (size, centre - width / 2, blank.baseline)
               + shaped.graphics_ops + b" ET\n")
        box = generic.ArrayObject([generic.FloatObject(v) for v in (left, bottom, right, top)])
        appearance = generic.StreamObject({
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): box,
            generic.NameObject("/Resources"): generic.DictionaryObject({
                generic.NameObject("/Font"): generic.DictionaryObject({
                    generic.NameObject("/F1"): engines[size].as_resource()})}),
        }, stream_data=ops)
        annotation = generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/FreeText"),
            generic.NameObject("/Rect"): box,
            generic.NameObject("/F"): generic.NumberObject(4 | 128),  # print, locked
            generic.NameObject("/Contents"): generic.TextStringObject(blank.text),
            generic.NameObject("/DA"): generic.TextStringObject(f"/F1 {size} Tf 0 g"),
            generic.NameObject("/P"): page_ref,
            generic.NameObject("/AP"): generic.DictionaryObject(
                {generic.NameObject("/N"): writer.add_object(appearance)}),
        })
        writer.register_annotation(page_ref, writer.add_object(annotation))


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SignerError("BAD_REQUEST", f"issued date must be YYYY-MM-DD, not {value!r}") from None


# Decree 30 writes days below 10, and the months 1 and 2, with a leading zero.
def _day(day: int) -> str:
    return f"{day:02d}"


def _month(month: int) -> str:
    return f"{month:02d}" if month in (1, 2) else str(month)
