"""Drafts as offices make them (fixtures/documents/drafts: LibreOffice from .odt and from .docx,
and reportlab), their number and date left as dots, ellipses, underscores or plain gaps: the
leader approves, the clerk issues through the real command line, and the number and date
appear in the header while both signatures stay valid and the leader's at form filling."""

from __future__ import annotations

import html
import re
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DOCUMENTS, DevEnv
from pdf_checks import validate_all
from PIL import Image, ImageChops
from pyhanko.sign.diff_analysis import ModificationLevel
from test_policy_data import policy_copy, run_cli

DRAFTS = DOCUMENTS / "drafts"
OFFICE = [f"{name}-{kind}.pdf" for name in ("spaces", "dots", "underscores") for kind in ("odt", "docx")]
REPORTLAB = [f"reportlab-{name}.pdf" for name in ("spaces", "ellipses", "underscores", "gaps")]
PRINTED_YEAR = ("spaces-odt.pdf", "underscores-docx.pdf", "reportlab-gaps.pdf")  # "năm 2026" on the page
HEADER_BAND = 150  # points from the top: the number and date lines, nothing of the signature area
DPI = 150
WORD = re.compile(r'<word xMin="([-0-9.]+)" yMin="([-0-9.]+)" xMax="([-0-9.]+)" yMax="([-0-9.]+)">([^<]*)</word>')


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    y0: float  # from the top
    x1: float
    y1: float

    def beside(self, other: Word) -> bool:
        """On the same line as ``other``."""
        return self.y0 < (other.y0 + other.y1) / 2 < self.y1


def words(path: Path) -> list[Word]:
    """Page 1's words and their boxes, as poppler's pdftotext reads them (field appearances too)."""
    done = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-bbox", str(path), "-"],
                          capture_output=True, text=True, check=True)
    return [Word(html.unescape(unicodedata.normalize("NFC", m[5])), *(float(v) for v in m.groups()[:4]))
            for m in WORD.finditer(done.stdout)]


def written(found: list[Word], value: str, after: str, before: str | None) -> bool:
    """Whether ``value`` stands on the header line of the word ``after``, between it and the
    word ``before`` (None: anywhere after it)."""
    key = next(w for w in found if w.text == after and w.y1 < HEADER_BAND)
    end = next((w.x0 for w in found if w.text == before and w.beside(key) and w.x0 > key.x1), 1e9)
    return any(w.text == value and w.beside(key) and key.x1 - 1 < (w.x0 + w.x1) / 2 < end for w in found)


def header_pixels(path: Path) -> Image.Image:
    """The top band of page 1, rendered by pdftoppm."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "page"
        subprocess.run(["pdftoppm", "-r", str(DPI), "-f", "1", "-l", "1", "-png", "-singlefile", str(path),
                        str(out)], check=True)
        image = Image.open(f"{out}.png").convert("L")
    return image.crop((0, 0, image.width, round(HEADER_BAND * DPI / 72)))


def valid_signatures(path: Path) -> int:
    report = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    assert "Signature is Invalid" not in report
    return report.count("Signature Validation: Signature is Valid.")


@pytest.mark.parametrize("draft", OFFICE + REPORTLAB)
def test_approved_then_issued_fills_the_blanks(draft: str, cli, dev_env: DevEnv, tmp_path: Path) -> None:
    source, approved, issued = DRAFTS / draft, tmp_path / "approved.pdf", tmp_path / "issued.pdf"
    done = cli("sign", str(source), "-o", str(approved), "--profile", "approved")
    assert done.returncode == 0, done.stderr
    done = cli("sign", str(approved), "-o", str(issued), "--profile", "issued", "--cert", "clerk",
               "--doc-number", "45/QĐ-UBND", "--issued-date", "02/12/2026")
    assert done.returncode == 0, done.stderr

    assert valid_signatures(issued) == 2
    leader, clerk = validate_all(issued.read_bytes(), dev_env.root_cert)
    assert leader.modification_level == ModificationLevel.FORM_FILLING and leader.docmdp_ok, \
        "the approved signature prepared the fields; issuing only filled them"
    assert clerk.intact and clerk.valid

    expected = [("45", "Số:", None), ("02", "ngày", "tháng"), ("12", "tháng", "năm"), ("2026", "năm", None)]
    before, after = words(approved), words(issued)
    assert not any(written(before, value, key, end) for value, key, end in expected[:3]), "blank before issuing"
    number = "45/QĐ-UBND" if "underscores.pdf" in draft else "45"  # "Số: ______" takes the whole number
    assert written(after, number, "Số:", None), after
    for value, key, end in expected[1:]:
        assert written(after, value, key, end), (value, after)
    changed = ImageChops.difference(header_pixels(approved), header_pixels(issued)).get_flattened_data()
    assert sum(1 for value in changed if value > 60) > 300, "the number and date are drawn on the page"


def test_a_printed_year_other_than_the_issuing_year_is_refused(cli, tmp_path: Path) -> None:
    out = tmp_path / "issued.pdf"
    for draft in PRINTED_YEAR:
        done = cli("sign", str(DRAFTS / draft), "-o", str(out), "--profile", "issued", "--cert", "clerk",
                   "--doc-number", "1/QĐ-UBND", "--issued-date", "2027-01-05")
        assert done.returncode == 9, done.stderr
        assert done.stderr.startswith("signer: BAD_REQUEST: ") and "2026" in done.stderr and "2027-01-05" in done.stderr
        assert not out.exists()


def test_a_header_without_blanks_names_what_is_missing(cli, tmp_path: Path) -> None:
    """"Số: 12/QĐ-UBND" and "ngày 05 tháng 3 năm 2026" already written: nothing to fill."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    font = DOCUMENTS.parent.parent / "signer" / "engine" / "fonts" / "LiberationSerif-Regular.ttf"
    pdfmetrics.registerFont(TTFont("LiberationSerifDrafts", str(font)))
    path = tmp_path / "written.pdf"
    page = canvas.Canvas(str(path), pagesize=A4)
    page.setFont("LiberationSerifDrafts", 13)
    page.drawString(95, 750, "Số: 12/QĐ-UBND")
    page.drawString(330, 750, "Hà Nội, ngày       tháng 3 năm 2026")  # the day is a blank, the month is not
    page.drawCentredString(420, 560, "PHÓ CHỦ TỊCH")
    page.drawCentredString(420, 470, "Lê Hồng Sơn")
    page.showPage()
    page.save()
    out = tmp_path / "issued.pdf"
    done = cli("sign", str(path), "-o", str(out), "--profile", "issued", "--cert", "clerk",
               "--doc-number", "45/QĐ-UBND", "--issued-date", "2026-03-02")
    assert done.returncode == 4 and done.stderr.startswith("signer: HEADER_BLANK_NOT_FOUND: "), done.stderr
    assert "the number: no blank after “Số:”" in done.stderr
    assert "the month: no blank between “tháng” and “năm”" in done.stderr
    assert "the day" not in done.stderr and "the year" not in done.stderr
    assert not out.exists()


def test_issuing_without_a_number_is_refused_unless_numbers_are_written_by_hand(
        cli, dev_env: DevEnv, tmp_path: Path) -> None:
    source, out = DRAFTS / "spaces-odt.pdf", tmp_path / "issued.pdf"
    done = cli("sign", str(source), "-o", str(out), "--profile", "issued", "--cert", "clerk",
               "--issued-date", "2026-12-02")
    assert done.returncode == 9 and done.stderr.startswith("signer: BAD_REQUEST: "), done.stderr
    assert "document number" in done.stderr and "numbers_by_hand" in done.stderr
    assert not out.exists()

    copy = policy_copy(tmp_path / "copy")
    profile = copy / "policies" / "profiles" / "issued.toml"
    text = profile.read_text("utf-8")
    assert "# numbers_by_hand = false" in text, "the shipped profile documents the option"
    profile.write_text(text.replace("# numbers_by_hand = false", "numbers_by_hand = true"), "utf-8")
    done = run_cli(dev_env, copy, tmp_path / "run", "sign", str(source), "-o", str(out), "--profile", "issued",
                   "--cert", "clerk", "--issued-date", "2026-12-02")
    assert done.returncode == 0, done.stderr
    assert valid_signatures(out) == 1
    found = words(out)
    assert written(found, "02", "ngày", "tháng") and written(found, "12", "tháng", "năm")
    assert not any(w.text.isdigit() for w in found if w.beside(next(k for k in found if k.text == "Số:"))
                   and w.x1 < 300), "the number is left for the pen"


def test_a_batch_of_issued_documents_without_a_number_is_refused_at_once(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done = cli("sign-batch", str(DRAFTS / "spaces-odt.pdf"), "-o", str(out), "--profile", "issued",
               "--cert", "clerk")
    assert done.returncode == 9 and "BAD_REQUEST" in done.stderr and "document number" in done.stderr, done.stderr
    assert list(out.iterdir()) == []
