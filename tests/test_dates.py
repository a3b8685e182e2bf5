"""Issuing dates in every form callers send, read as the day in Hà Nội (UTC+7)."""

from __future__ import annotations

from datetime import date

import pytest

from signer.dates import parse_issued_date
from signer.errors import Code, SignerError


@pytest.mark.parametrize(("text", "day"), [
    ("2026-12-02", date(2026, 12, 2)),
    ("2026-12-01T20:59:40.803Z", date(2026, 12, 2)),  # a JavaScript Date late in the UTC evening
    ("2026-12-01T16:59:59Z", date(2026, 12, 1)),  # 23:59:59 in Hà Nội: still the first
    ("2026-12-01T17:00:00Z", date(2026, 12, 2)),  # midnight in Hà Nội
    ("2026-12-02T01:30:00+09:00", date(2026, 12, 1)),  # Tokyo's early morning is the evening before here
    ("2026-12-02T06:59:00+07:00", date(2026, 12, 2)),
    ("2026-12-01 20:59:40", date(2026, 12, 1)),  # no offset: a local time, taken as written
    ("2026-12-01T20:59:40", date(2026, 12, 1)),
    ("02/12/2026", date(2026, 12, 2)),
    ("2/12/2026", date(2026, 12, 2)),
    ("02-12-2026", date(2026, 12, 2)),
    ("5/2/2026", date(2026, 2, 5)),
    (" 2026-02-05 ", date(2026, 2, 5)),
])
def test_accepted_forms(text: str, day: date) -> None:
    assert parse_issued_date(text) == day


@pytest.mark.parametrize("text", ["", "2026/12/02", "12/02", "02/12/26", "31/02/2026", "2026-13-01",
                                  "02.12.2026", "ngày 02 tháng 12", "2026-12-01T25:00:00Z", "02/12-2026",
                                  "1764622780803", "2026-12-02junk"])
def test_other_forms_are_refused_naming_the_accepted_ones(text: str) -> None:
    with pytest.raises(SignerError) as caught:
        parse_issued_date(text)
    assert caught.value.code == Code.BAD_REQUEST
    detail = caught.value.message_en
    for form in ("YYYY-MM-DD", "DD/MM/YYYY", "DD-MM-YYYY", "ISO 8601", "Hà Nội"):
        assert form in detail, (form, detail)


def test_every_edge_gives_the_engine_the_iso_day() -> None:
    """The API's fields, the VGCA frame and the command line all pass through the options'
    description, which turns the date into YYYY-MM-DD for the engine."""
    import argparse

    from signer.service.options import add_arguments, from_arguments, from_fields, from_vgca

    assert from_fields({"issued_date": "02/12/2026"})[0].issued_date == "2026-12-02"
    frame = {"IssuedDate": "2026-12-01T20:59:40.803Z", "DocNumber": "12/QĐ-UBND"}
    assert from_vgca(frame, "issued").issued_date == "2026-12-02"
    parser = argparse.ArgumentParser()
    add_arguments(parser, "pdf")
    assert from_arguments(parser.parse_args(["--issued-date", "2-12-2026"]))[0].issued_date == "2026-12-02"
    with pytest.raises(SignerError) as caught:
        from_fields({"issued_date": "December 2nd"})
    assert caught.value.code == Code.BAD_REQUEST
