"""Issuing dates as callers send them, read as the calendar day in Hà Nội.

Pages send a JavaScript ``Date`` (``"2026-12-01T20:59:40.803Z"``), forms an ISO day, people
type ``02/12/2026``. An instant is the day it is in Asia/Ho_Chi_Minh: UTC+7 all year (Viet Nam
keeps no summer time), so a fixed offset serves and no time zone database is needed. A
timestamp without an offset is taken as written (its date): it is already a local time.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from .errors import Code, SignerError

HANOI = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
ACCEPTED = ("accepted: YYYY-MM-DD (2026-12-02), an ISO 8601 timestamp with Z or an offset "
            "(2026-12-01T20:59:40.803Z, read as the date in Hà Nội), DD/MM/YYYY or DD-MM-YYYY (02/12/2026)")
ACCEPTED_VI = ("các dạng được chấp nhận: YYYY-MM-DD (2026-12-02), thời điểm theo ISO 8601 có Z hoặc độ lệch múi giờ "
               "(2026-12-01T20:59:40.803Z, lấy ngày theo giờ Hà Nội), DD/MM/YYYY hoặc DD-MM-YYYY (02/12/2026)")
DAY_FIRST = re.compile(r"(\d{1,2})([/-])(\d{1,2})\2(\d{4})")
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_issued_date(text: str) -> date:
    """The calendar day ``text`` names; BAD_REQUEST naming the accepted forms otherwise."""
    given = text.strip()
    day_first = DAY_FIRST.fullmatch(given)
    try:
        if day_first:
            day, _, month, year = day_first.groups()
            return date(int(year), int(month), int(day))
        if ISO_DAY.fullmatch(given):
            return date.fromisoformat(given)
        if ISO_DAY.match(given) and given[10:11] in ("T", " "):
            return _day_in_hanoi(datetime.fromisoformat(given))
    except ValueError:
        pass  # a day that does not exist (31/02/2026), or a malformed time: refused below
    raise SignerError(Code.BAD_REQUEST, f"issued date {text[:60]!r} is not a date; {ACCEPTED}",
                      vi=f"ngày ban hành {text[:60]!r} không phải là ngày hợp lệ; {ACCEPTED_VI}")


def _day_in_hanoi(moment: datetime) -> date:
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(HANOI).date()
