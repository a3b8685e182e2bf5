"""The blanks a Decree 30 header leaves for the number and the date, found on page 1.

Offices leave them in every form: dots ("Số: ......./QĐ-UBND"), an ellipsis, underscores, or
a plain gap typed as spaces ("Số:        /QĐ-UBND", "ngày     tháng     năm 2026"), which some
producers draw as space glyphs and others as nothing but a jump between two words. So a blank
is measured: from the end of its keyword to the next word it expects ("/" after "Số:", "tháng"
after "ngày", "năm" after "tháng", the line's end after "năm"), and it counts when the space
between holds only filler glyphs and is wide enough to write in. A year printed after "năm"
("năm 2026") is no blank: that year is not written, and is read for the caller to compare.

Lines are read per baseline, not per segment: a wide gap splits a baseline into segments
(``pagetext``), and a wide blank is exactly such a gap.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from pdfminer.layout import LTChar

from .pagespace import Rect
from .pagetext import PageText

FILLER = frozenset(" .…_\u00a0")
MARKS = frozenset(".…_")  # filler that shows a blank on its own, at any width
GAP_EM = 0.9  # a blank of spaces or of nothing is at least about one character wide
PART_EM = 2.0  # a wider jump between glyphs parts columns, unless it ends at the expected word
PAD_EM = 0.1  # kept clear of the words on either side
NUMBER, DATE = ("số:",), ("ngày", "tháng", "năm")
YEAR = re.compile(r"\d{4}")

# What was searched, in words (English, Vietnamese), for the error that names a missing blank.
_GAP_EN = "dots, an ellipsis, underscores or an empty gap"
_GAP_VI = "dấu chấm, dấu ba chấm, dấu gạch dưới hoặc khoảng trống"
SEARCHED = {
    "number": (f"the number: no blank after “Số:” on page 1 (searched for {_GAP_EN} between “Số:” and the “/” "
               "of the symbol or the end of the line)",
               f"số văn bản: trang 1 không có chỗ trống sau “Số:” (đã tìm {_GAP_VI} giữa “Số:” và dấu “/” "
               "của ký hiệu hoặc cuối dòng)"),
    "day": (f"the day: no blank between “ngày” and “tháng” on page 1 (searched for {_GAP_EN})",
            f"ngày: trang 1 không có chỗ trống giữa “ngày” và “tháng” (đã tìm {_GAP_VI})"),
    "month": (f"the month: no blank between “tháng” and “năm” on page 1 (searched for {_GAP_EN})",
              f"tháng: trang 1 không có chỗ trống giữa “tháng” và “năm” (đã tìm {_GAP_VI})"),
    "year": ("the year: neither a blank nor a printed year after “năm” on page 1 (searched for dots, an "
             "ellipsis, underscores, an empty gap or four digits)",
             "năm: trang 1 không có chỗ trống hay năm đã in sau “năm” (đã tìm dấu chấm, dấu ba chấm, "
             "dấu gạch dưới, khoảng trống hoặc bốn chữ số)"),
}
NO_LINE = {"number": ("the number: no “Số:” on page 1", "số văn bản: trang 1 không có “Số:”"),
           "date": ("the date: no line with “ngày … tháng … năm” on page 1",
                    "ngày tháng: trang 1 không có dòng “ngày … tháng … năm”")}


@dataclass(frozen=True)
class Blank:
    """A place to write into, in display space (the white patch covers it whole)."""

    part: str  # "sequence" (before "/SYMBOL"), "number" (the whole number), "day", "month", "year"
    page: int
    box: Rect
    size: float  # the line's font size


@dataclass(frozen=True)
class HeaderScan:
    blanks: list[Blank]
    printed_year: str | None = None  # "năm 2026": the year is on the page already
    missing: dict[str, tuple[str, str]] = field(default_factory=dict)  # "number", "day", ...: what was searched

    def found(self, part: str) -> Blank | None:
        return next((blank for blank in self.blanks if blank.part == part), None)


def scan_header(text: PageText) -> HeaderScan:
    """The blanks of page 1's first "Số:" line and first date line (the header's, above any
    number or date the body quotes), and what is missing."""
    rows = baselines(text.lines(0))
    blanks: list[Blank] = []
    missing: dict[str, tuple[str, str]] = {}
    number_row = next((row for row in rows if _find(row, NUMBER) is not None), None)  # the header's
    number = None if number_row is None else _number_blank(number_row)
    if number is None:
        missing["number"] = SEARCHED["number"] if number_row else NO_LINE["number"]
    else:
        blanks.append(number)
    date_row = next(((row, found) for row in rows if (found := _find(row, DATE)) is not None), None)
    printed = None
    if date_row is None:
        missing.update({part: NO_LINE["date"] for part in ("day", "month", "year")})
    else:
        row, starts = date_row
        for part, (start, word), follower in zip(("day", "month", "year"), starts, ("tháng", "năm", None), strict=True):
            blank = _blank_after(row, start + len(word), follower, part)
            if blank is not None:
                blanks.append(blank)
            elif part == "year" and (printed := _printed_year(row, start + len(word))) is not None:
                pass
            else:
                missing[part] = SEARCHED[part]
    return HeaderScan(blanks, printed, missing)


def baselines(segments: Sequence[list[LTChar]]) -> list[list[LTChar]]:
    """Page segments joined again per baseline, left to right, topmost first."""
    rows: dict[int, list[LTChar]] = {}
    for segment in segments:
        rows.setdefault(round(segment[0].matrix[5]), []).extend(segment)
    return [sorted(rows[y], key=lambda c: c.x0) for y in sorted(rows, reverse=True)]


def _folded(row: list[LTChar]) -> str:
    """The row's text, one position per glyph (as ``row``), case-folded."""
    return "".join((unicodedata.normalize("NFC", c.get_text())[:1] or " ").casefold() for c in row)


def _find(row: list[LTChar], words: tuple[str, ...]) -> list[tuple[int, str]] | None:
    """Where ``words`` start in ``row``, in that order (None if one is missing)."""
    text, found, at = _folded(row), [], 0
    for word in words:
        start = text.find(word, at)
        if start < 0:
            return None
        found.append((start, word))
        at = start + len(word)
    return found


def _number_blank(row: list[LTChar]) -> Blank | None:
    """"Số: ..../QĐ-UBND" leaves the sequence number; "Số: ........" the whole number."""
    found = _find(row, NUMBER)
    if found is None:
        return None
    end = found[0][0] + len(found[0][1])
    return _blank_after(row, end, "/", "sequence") or _blank_after(row, end, None, "number")


def _blank_after(row: list[LTChar], index: int, follower: str | None, part: str) -> Blank | None:
    """The blank from ``row[index]`` on: filler up to ``follower``, or (None) up to the line's
    end, which a jump wide enough to part columns also is."""
    if not 0 < index <= len(row):
        return None
    text = _folded(row)
    before = row[index - 1]
    size = before.size
    end = index
    while end < len(row) and text[end] in FILLER and not _parts(row, end, size):
        end += 1
    if follower is not None and end < len(row) and text.startswith(follower, end):
        right = row[end].x0
    elif follower is None and (end == len(row) or _parts(row, end, size)):
        right = row[end - 1].x1 if end > index else before.x1
    else:
        return None  # something else follows: the place is written in already, or is no blank
    left = before.x1
    marked = any(text[i] in MARKS for i in range(index, end))
    if right - left < (0 if marked else GAP_EM * size) or right - left <= 2 * PAD_EM * size:
        return None
    baseline = before.matrix[5]
    box = (left + PAD_EM * size, baseline - 0.3 * size, right - PAD_EM * size, baseline + 0.9 * size)
    return Blank(part=part, page=0, box=box, size=size)


def _parts(row: list[LTChar], index: int, size: float) -> bool:
    """Whether a jump wide enough to part columns comes before ``row[index]``."""
    return index > 0 and row[index].x0 - row[index - 1].x1 > PART_EM * size


def _printed_year(row: list[LTChar], index: int) -> str | None:
    """The four digits printed after "năm", if any."""
    text = _folded(row)[index:].lstrip("".join(FILLER - MARKS))
    year = YEAR.match(text)
    return year.group() if year else None
