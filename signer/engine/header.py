"""The document number and the issuing date, in their places in the header.

The header's blanks ("Số: ......./QĐ-UBND", "..., ngày     tháng     năm 2026": dots, an
ellipsis, underscores or a plain gap; found by ``blanks``) become read-only text fields.
The leader's (approved) signature creates them empty, as part of its own update; the
clerk's (issued) signature fills them. Filling existing fields is what a validator's
difference analysis allows after a signature, so the leader's signature keeps its
standing; had the clerk added anything new to the page, the leader's signature would be
reported as followed by unexplained changes. A document whose fields were not made at
approval gets them from the clerk (the leader's signature then shows that change).

Filled text is set in the bundled font at the line's size, over a white patch. A year printed
in the header ("năm 2026") is not written; an issuing date in another year is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngine
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from ..dates import parse_issued_date
from ..errors import Code, SignerError
from .appearance import BundledFont, text_width
from .blanks import Blank, HeaderScan, scan_header
from .pagespace import PageSpace, Rect, as_rect
from .pagetext import PageText
from .widgets import pdf_numbers

# Field name of each blank (ASCII: form field names travel through many tools). "Số: ..../QĐ-UBND"
# takes the sequence number alone; "Số: ......" the whole number and symbol.
FIELDS = {"sequence": "so_thu_tu", "number": "so_ky_hieu", "day": "ngay_ban_hanh", "month": "thang_ban_hanh",
          "year": "nam_ban_hanh"}
NUMBER_PARTS, DATE_PARTS = ("sequence", "number"), ("day", "month", "year")
READ_ONLY = 1  # field flag
PRINT = 4  # annotation flag


@dataclass(frozen=True)
class HeaderField:
    """A header field already in the document."""

    part: str
    ref: generic.IndirectObject
    page: int


@dataclass(frozen=True)
class HeaderPlan:
    existing: dict[str, HeaderField]
    new: list[Blank]  # fields to make
    values: dict[str, str]  # part -> what to write


def plan_header(text: PageText, writer: IncrementalPdfFileWriter, page_refs: list, doc_number: str,
                issued_date: str) -> HeaderPlan:
    """Fields to fill with the number and date (made now where the document lacks them);
    refuse when the header has no place for one of them, naming which. Only page 1's text is read."""
    existing = existing_fields(writer, page_refs)
    wanted = header_values(doc_number, issued_date)
    scan: HeaderScan | None = None
    new: list[Blank] = []
    missing: list[tuple[str, str]] = []  # what was searched, in English and Vietnamese
    values: dict[str, str] = {}
    if doc_number:
        have = [part for part in NUMBER_PARTS if part in existing]
        if not have:
            scan = scan or scan_header(text)
            found = [blank for part in NUMBER_PARTS if (blank := scan.found(part)) is not None]
            new += found
            have = [blank.part for blank in found]
            missing += [] if found else [scan.missing["number"]]
        values.update({part: wanted[part] for part in have})
    if issued_date:
        values.update({part: wanted[part] for part in DATE_PARTS if part in existing})
        lacking = [part for part in DATE_PARTS if part not in existing]
        if lacking:
            scan = scan or scan_header(text)
            if "year" in lacking and scan.printed_year is not None:  # printed: checked, not written
                if scan.printed_year != wanted["year"]:
                    raise SignerError(Code.BAD_REQUEST, f"the header prints the year {scan.printed_year} "
                                      f"(“năm {scan.printed_year}”), but the issued date is {issued_date}",
                                      vi=f"phần đầu văn bản ghi năm {scan.printed_year} "
                                         f"(“năm {scan.printed_year}”), nhưng ngày ban hành là {issued_date}")
                lacking.remove("year")
            for part in lacking:
                blank = scan.found(part)
                if blank is None:
                    missing.append(scan.missing[part])
                else:
                    new.append(blank)
                    values[part] = wanted[part]
    if missing:
        missing = list(dict.fromkeys(missing))
        raise SignerError(Code.HEADER_BLANK_NOT_FOUND, "; ".join(en for en, _ in missing),
                          vi="; ".join(vi for _, vi in missing))
    return HeaderPlan(existing, new, values)


def plan_empty_fields(text: PageText, writer: IncrementalPdfFileWriter, page_refs: list) -> HeaderPlan:
    """Empty fields over the header's blanks, for the clerk to fill later; none when the
    document has them already or carries a signature (new fields would be a change after it)."""
    if existing_fields(writer, page_refs) or _signed(writer):
        return HeaderPlan({}, [], {})
    return HeaderPlan({}, scan_header(text).blanks, {})


def write_header(writer: IncrementalPdfFileWriter, plan: HeaderPlan, space: Callable[[int], PageSpace]) -> None:
    """``space``: a page's geometry, by index."""
    fields = {**plan.existing, **add_fields(writer, plan.new, space)}
    fill_fields(writer, fields, plan.values, space)


def header_values(doc_number: str, issued_date: str) -> dict[str, str]:
    """What goes in each part ("05", "02", "2026": Decree 30 writes days below 10, and the
    months 1 and 2, with a leading zero). ``issued_date``: YYYY-MM-DD, or another form
    ``parse_issued_date`` reads."""
    values = {"number": doc_number, "sequence": doc_number.split("/", 1)[0]} if doc_number else {}
    if issued_date:
        day = parse_issued_date(issued_date)
        values.update(day=f"{day.day:02d}", month=f"{day.month:02d}" if day.month in (1, 2) else str(day.month),
                      year=str(day.year))
    return values


def existing_fields(writer: IncrementalPdfFileWriter, page_refs: list) -> dict[str, HeaderField]:
    form = writer.root.get("/AcroForm")
    if form is None:
        return {}
    pages = {ref.idnum: index for index, ref in enumerate(page_refs)}
    names = {name: part for part, name in FIELDS.items()}
    found = {}
    for ref in form.get_object().get("/Fields", generic.ArrayObject()):
        field = ref.get_object()
        part = names.get(str(field.get("/T", "")))
        page = field.raw_get("/P") if "/P" in field else None
        if part is not None and field.get("/FT") == "/Tx" and page is not None and page.idnum in pages:
            found[part] = HeaderField(part, ref, pages[page.idnum])
    return found


def _signed(writer: IncrementalPdfFileWriter) -> bool:
    form = writer.root.get("/AcroForm")
    fields = form.get_object().get("/Fields", generic.ArrayObject()) if form is not None else []
    return any(ref.get_object().get("/FT") == "/Sig" and "/V" in ref.get_object() for ref in fields)


def add_fields(writer: IncrementalPdfFileWriter, blanks: list[Blank], space: Callable[[int], PageSpace]
               ) -> dict[str, HeaderField]:
    """Empty read-only text fields over ``blanks`` (they show nothing until filled)."""
    form_ref = writer.root.raw_get("/AcroForm") if "/AcroForm" in writer.root else None
    if form_ref is None:
        form_ref = writer.add_object(generic.DictionaryObject({generic.NameObject("/Fields"): generic.ArrayObject()}))
        writer.root[generic.NameObject("/AcroForm")] = form_ref
        writer.update_root()
    form = form_ref.get_object()
    fields = form["/Fields"]
    made = {}
    for blank in blanks:
        page_ref = writer.find_page_for_modification(blank.page)[0]
        field_ref = writer.add_object(generic.DictionaryObject({
            generic.NameObject("/FT"): generic.NameObject("/Tx"),
            generic.NameObject("/T"): generic.TextStringObject(FIELDS[blank.part]),
            generic.NameObject("/Ff"): generic.NumberObject(READ_ONLY),
            generic.NameObject("/DA"): generic.TextStringObject(f"/Helv {round(blank.size)} Tf 0 g"),
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
            generic.NameObject("/F"): generic.NumberObject(PRINT),
            generic.NameObject("/Rect"): pdf_numbers(space(blank.page).rect_to_user(blank.box)),
            generic.NameObject("/P"): page_ref,
        }))
        fields.append(field_ref)
        writer.register_annotation(page_ref, field_ref)
        made[blank.part] = HeaderField(blank.part, field_ref, blank.page)
    if made:
        _default_font(writer, form)
        writer.update_container(fields)
        writer.update_container(form)
    return made


def fill_fields(writer: IncrementalPdfFileWriter, fields: dict[str, HeaderField], values: dict[str, str],
                space: Callable[[int], PageSpace]) -> None:
    """Write each value into its field: /V, and an appearance drawn upright on the page."""
    engines: dict[int, FontEngine] = {}
    for part, value in values.items():
        field = fields[part]
        widget = field.ref.get_object()
        page = space(field.page)
        box = page.rect_to_display(as_rect(widget["/Rect"]))
        widget[generic.NameObject("/V")] = generic.TextStringObject(value)
        widget[generic.NameObject("/AP")] = generic.DictionaryObject(
            {generic.NameObject("/N"): writer.add_object(_appearance(writer, box, value, page, engines))})
        writer.update_container(widget)


def _appearance(writer: IncrementalPdfFileWriter, box: Rect, value: str, space: PageSpace,
                engines: dict[int, FontEngine]) -> generic.StreamObject:
    """A white patch over the dots and the value centred on them (set smaller if it is wider)."""
    left, bottom, right, top = box
    size = (top - bottom) / 1.2
    baseline = bottom + 0.3 * size
    size = round(min(size, size * (right - left - 2) / max(text_width(value, size), 1)))
    if size not in engines:
        engines[size] = BundledFont(size).create_font_engine(writer)
    shaped = engines[size].shape(value)
    width = shaped.x_advance * size
    x = (left + right - width) / 2
    ops = (b"1 1 1 rg %.2f %.2f %.2f %.2f re f\n" % (left, bottom, right - left, top - bottom)
           + b"0 0 0 rg BT /F1 %d Tf %.2f %.2f Td " % (size, x, baseline) + shaped.graphics_ops + b" ET\n")
    stream = generic.StreamObject({
        generic.NameObject("/Type"): generic.NameObject("/XObject"),
        generic.NameObject("/Subtype"): generic.NameObject("/Form"),
        generic.NameObject("/BBox"): pdf_numbers(box),
        generic.NameObject("/Resources"): generic.DictionaryObject({
            generic.NameObject("/Font"): generic.DictionaryObject({
                generic.NameObject("/F1"): engines[size].as_resource()})}),
    }, stream_data=ops)
    if space.rotate:
        stream[generic.NameObject("/Matrix")] = pdf_numbers(space.upright_matrix)
    return stream


def _default_font(writer: IncrementalPdfFileWriter, form: generic.DictionaryObject) -> None:
    """The fields' /DA names Helvetica: make sure the form's resources hold it."""
    resources = form.setdefault(generic.NameObject("/DR"), generic.DictionaryObject())
    fonts = resources.get_object().setdefault(generic.NameObject("/Font"), generic.DictionaryObject())
    if "/Helv" not in fonts.get_object():
        fonts.get_object()[generic.NameObject("/Helv")] = writer.add_object(generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Font"),
            generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
            generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
            generic.NameObject("/Encoding"): generic.NameObject("/WinAnsiEncoding"),
        }))
