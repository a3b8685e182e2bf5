"""Decree 30 signature blocks on signed documents: where they land, what they show, and
that every signature stays valid. Pages are rendered with pdftoppm and compared with
the unsigned render; text is read back through the embedded font's ToUnicode map."""

from __future__ import annotations

import io
import subprocess
import unicodedata
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from conftest import DOCUMENTS, DevEnv
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from signer.engine.placement import find_anchor

DPI = 72  # one pixel per point: PDF coordinates map directly (y from the top)


def render(path: Path, page: int) -> Image.Image:
    out = path.with_suffix(f".p{page}")
    subprocess.run(["pdftoppm", "-r", str(DPI), "-f", str(page), "-l", str(page), "-png", "-singlefile",
                    str(path), str(out)], check=True)
    return Image.open(f"{out}.png").convert("RGB")


def pixels(image: Image.Image, box: tuple[float, float, float, float], test) -> int:
    """How many pixels in the PDF-space box (x1, y1, x2, y2) pass ``test``."""
    height = image.height
    x1, y1, x2, y2 = box
    area = (max(0, int(x1)), max(0, int(height - y2)), min(image.width, int(x2)), min(height, int(height - y1)))
    if area[0] >= area[2] or area[1] >= area[3]:
        return 0
    return sum(1 for rgb in image.crop(area).get_flattened_data() if test(rgb))


def blue(rgb) -> bool:
    r, g, b = rgb
    return b > 150 and r < 100 and g < 120


def red(rgb) -> bool:
    r, g, b = rgb
    return r > 170 and g < 90 and b < 90


def dark(rgb) -> bool:
    return sum(rgb) < 300


def sign(cli, source: Path, out: Path, *args: str) -> None:
    done = cli("sign", str(source), "-o", str(out), *args)
    assert done.returncode == 0, done.stderr


def valid_signatures(path: Path) -> int:
    report = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    assert "Signature is Invalid" not in report
    return report.count("Signature Validation: Signature is Valid.")


def flattened_text(path: Path, page: int) -> str:
    """The page's text with the signature appearances merged in (pdfium), read by pdftotext."""
    document = pdfium.PdfDocument(str(path))
    document.init_forms()
    document[page - 1].flatten()
    buffer = io.BytesIO()
    document.save(buffer)
    flat = path.with_suffix(".flat.pdf")
    flat.write_bytes(buffer.getvalue())
    return subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(flat), "-"],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(("sample", "page"), [("libreoffice.pdf", 1), ("reportlab-10-pages.pdf", 10)])
def test_approved_then_issued(sample: str, page: int, cli, dev_env: DevEnv, tmp_path: Path) -> None:
    source = tmp_path / sample
    source.write_bytes((DOCUMENTS / sample).read_bytes())
    approved, issued = tmp_path / "approved.pdf", tmp_path / "issued.pdf"
    data = source.read_bytes()
    _, title = find_anchor(data, ("PHÓ CHỦ TỊCH",))
    _, name = find_anchor(data, ("Lê Hồng Sơn",))

    sign(cli, source, approved, "--profile", "approved")
    assert valid_signatures(approved) == 1
    before, after = render(source, page), render(approved, page)
    between = (title[0] - 60, name[3], title[2] + 60, title[1])  # under the title, above the printed name
    assert pixels(before, between, blue) == 0
    assert pixels(after, between, blue) > 200, "the blue signature sits between title and printed name"
    assert pixels(after, (0, 0, after.width, name[3]), blue) == 0, "nothing blue below the printed name"
    text = unicodedata.normalize("NFC", flattened_text(approved, page))
    assert "Ký bởi: Lê Hồng Sơn" in text and "Thời gian ký:" in text and "+07:00" in text

    sign(cli, approved, issued, "--profile", "issued", "--cert", "clerk", "--doc-number", "45/QĐ-UBND",
         "--issued-date", "2026-02-05")
    assert valid_signatures(issued) == 2, "the leader's signature stays valid"
    seal_page = render(issued, page)
    leader_left = (title[0] + title[2]) / 2 - 95  # the approved block is 190 pt wide, centred on the title
    left_third = (leader_left, name[3], leader_left + 190 / 3, title[1])
    assert pixels(seal_page, left_third, red) > 50, "the seal overlaps the left part of the leader's block"
    assert pixels(seal_page, (leader_left + 190 / 2, name[3], leader_left + 190, title[1]), red) == 0
    header = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(issued), "-"],
                            capture_output=True, text=True).stdout
    assert "45" in header and "05" in header and "02" in header
    assert subprocess.run(["qpdf", "--check", str(issued)], capture_output=True).returncode == 0


@pytest.mark.parametrize(("profile", "extra", "expected"), [
    ("appendix", ["--doc-number", "45/QĐ-UBND"], ["Ủy ban nhân dân Thành phố Hà Nội", "Số: 45/QĐ-UBND"]),
    ("copy", ["--copy-form", "SAO LỤC"], ["SAO LỤC", "Ủy ban nhân dân Thành phố Hà Nội", "Thời gian ký:"]),
    ("income", [], ["Văn bản đến", "Thời gian ký:"]),
])
def test_top_right_blocks(profile: str, extra: list[str], expected: list[str], cli, tmp_path: Path) -> None:
    source = DOCUMENTS / "libreoffice.pdf"
    out = tmp_path / f"{profile}.pdf"
    sign(cli, source, out, "--profile", profile, "--cert", "clerk", *extra)
    assert valid_signatures(out) == 1
    before, after = render(source, 1), render(out, 1)
    width, height = 595, 842
    top_right = (width / 2, height - 60, width, height)
    assert pixels(after, top_right, dark) > pixels(before, top_right, dark) + 100
    bottom_left = (0, 0, width / 2, height / 2)
    assert pixels(after, bottom_left, dark) == pixels(before, bottom_left, dark)
    text = unicodedata.normalize("NFC", flattened_text(out, 1))
    for line in expected:
        assert line in text, (line, text)
    if profile == "appendix":
        assert pixels(after, top_right, red) == 0, "no seal image on an appendix"


def test_font_is_embedded(cli, tmp_path: Path) -> None:
    out = tmp_path / "plain.pdf"
    sign(cli, DOCUMENTS / "pdflatex.pdf", out, "--profile", "plain")
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True).stdout
    line = next(row for row in fonts.splitlines() if "LiberationSerif" in row)
    assert " yes yes yes " in line  # embedded, subset, with a ToUnicode map


def test_anchor_on_pdflatex_and_missing_anchor(cli, tmp_path: Path) -> None:
    out = tmp_path / "latex.pdf"
    sign(cli, DOCUMENTS / "pdflatex.pdf", out, "--profile", "approved", "--anchor", "DEPUTY DIRECTOR")
    assert valid_signatures(out) == 1
    missing = cli("sign", str(DOCUMENTS / "pdflatex.pdf"), "-o", str(tmp_path / "x.pdf"), "--profile", "approved")
    assert missing.returncode == 4
    assert missing.stderr.startswith("signer: ANCHOR_NOT_FOUND: ")
    assert "PHÓ CHỦ TỊCH" in missing.stderr  # says what was searched
    assert not (tmp_path / "x.pdf").exists()


def test_anchor_split_across_operators_and_decomposed(cli, tmp_path: Path) -> None:
    """"PHÓ CHỦ TỊCH" drawn in three text-show operations, with decomposed diacritics."""
    font = Path(__file__).resolve().parent.parent / "signer" / "engine" / "fonts" / "LiberationSerif-Regular.ttf"
    pdfmetrics.registerFont(TTFont("LiberationSerifTest", str(font)))
    path = tmp_path / "split.pdf"
    page = canvas.Canvas(str(path), pagesize=A4)
    page.setFont("LiberationSerifTest", 12)
    x = 360
    for part in ("PHÓ ", "CHỦ ", "TỊCH"):
        text = unicodedata.normalize("NFD", part)
        page.drawString(x, 500, text)
        x += pdfmetrics.stringWidth(text, "LiberationSerifTest", 12)
    page.drawString(380, 380, "Lê Hồng Sơn")
    page.showPage()
    page.save()
    out = tmp_path / "signed.pdf"
    sign(cli, path, out, "--profile", "approved")
    signed = render(out, 1)
    assert pixels(signed, (300, 400, 560, 498), blue) > 200
