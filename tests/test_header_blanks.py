"""The header's blanks as ``engine.blanks`` finds them in the drafts (no token: the text only),
and where each one lies: after its keyword, before the word that follows it."""

from __future__ import annotations

import pytest
from conftest import DOCUMENTS

from signer.engine.blanks import scan_header
from signer.engine.pagetext import PageText

DRAFTS = DOCUMENTS / "drafts"
# draft: (number part, parts of the date found, printed year)
EXPECTED = {
    "spaces-odt.pdf": ("sequence", {"day", "month"}, "2026"),
    "spaces-docx.pdf": ("sequence", {"day", "month"}, "2026"),
    "dots-odt.pdf": ("sequence", {"day", "month", "year"}, None),
    "dots-docx.pdf": ("sequence", {"day", "month", "year"}, None),
    "underscores-odt.pdf": ("sequence", {"day", "month"}, "2026"),
    "underscores-docx.pdf": ("sequence", {"day", "month"}, "2026"),
    "reportlab-spaces.pdf": ("sequence", {"day", "month"}, "2026"),
    "reportlab-ellipses.pdf": ("sequence", {"day", "month", "year"}, None),
    "reportlab-underscores.pdf": ("number", {"day", "month"}, "2026"),
    "reportlab-gaps.pdf": ("sequence", {"day", "month"}, "2026"),  # "Số:" and "/QĐ-UBND" in two segments
}


@pytest.mark.parametrize("draft", sorted(EXPECTED))
def test_every_blank_of_the_drafts_is_found(draft: str) -> None:
    number, dated, year = EXPECTED[draft]
    text = PageText((DRAFTS / draft).read_bytes())
    scan = scan_header(text)
    assert scan.missing == {}
    assert {b.part for b in scan.blanks} == {number, *dated}
    assert scan.printed_year == year
    for blank in scan.blanks:
        left, bottom, right, top = blank.box
        assert right - left > 0.9 * blank.size and top - bottom > blank.size
        assert top > 700, "in the header, not the body"
        # nothing but filler under the box: the keyword before it and the next word stay uncovered
        covered = [c.get_text() for line in text.lines(0) for c in line
                   if c.x0 < right and c.x1 > left and c.y0 < top and c.y1 > bottom and (c.x0 + c.x1) / 2 > left
                   and (c.x0 + c.x1) / 2 < right]
        assert set("".join(covered)) <= set(" .…_"), (blank.part, covered)
