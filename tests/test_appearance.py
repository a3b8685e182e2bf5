"""Decree 30 signature blocks on signed documents: where they land, what they show, and
that every signature stays valid. Pages are rendered with pdftoppm and compared with
the unsigned render; text is read back through the embedded font's ToUnicode map."""

from __future__ import annotations

import subprocess
import tempfile
import unicodedata
from pathlib import Path

import pytest
from conftest import DOCUMENTS, DevEnv
from pdf_checks import flattened_text
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from signer.engine.placement import find_anchor

DPI = 72  # one pixel per point: PDF coordinates map directly (y from the top)


def render(path: Path, page: int) -> Image.Image:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "page"
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
    text = unicodedata.normalize("NFC", flattened_text(approved.read_bytes(), page))
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
    top_right = (width / 2, height - 180, width, height)  # the motto and date fill the corner: the block goes below
    assert pixels(after, top_right, dark) > pixels(before, top_right, dark) + 100
    bottom_left = (0, 0, width / 2, height / 2)
    assert pixels(after, bottom_left, dark) == pixels(before, bottom_left, dark)
    text = unicodedata.normalize("NFC", flattened_text(out.read_bytes(), 1))
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
    # without --anchor the profile's fallback places the block (test_placement_room); a caller's anchor has none
    missing = cli("sign", str(DOCUMENTS / "pdflatex.pdf"), "-o", str(tmp_path / "x.pdf"), "--profile", "approved",
                  "--anchor", "PHÓ CHỦ TỊCH")
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


# For a page shown with /Rotate: the transformation that draws an upright A4 portrait (as
# displayed) into the page's own coordinates (reportlab stores the media box turned for 90 and 270).
ROTATED = {90: (0, 1, -1, 0, 842, 0), 180: (-1, 0, 0, -1, 595, 842), 270: (0, -1, 1, 0, 0, 595)}


def decision(path: Path, *, body_mentions_title: bool = False, recipients_column: bool = False,
             header_dots: bool = True, crop: tuple[float, float, float, float] | None = None,
             rotate: int = 0) -> Path:
    """A one-page decision drawn with reportlab, with the layout variations real documents have
    (``rotate``: stored turned, shown upright through the page's /Rotate)."""
    font = Path(__file__).resolve().parent.parent / "signer" / "engine" / "fonts" / "LiberationSerif-Regular.ttf"
    pdfmetrics.registerFont(TTFont("LiberationSerifTest", str(font)))
    page = canvas.Canvas(str(path), pagesize=A4)
    if rotate:
        page.setPageRotation(rotate)
        page.transform(*ROTATED[rotate])
    if crop:
        page.setCropBox(crop)
    page.setFont("LiberationSerifTest", 12)
    page.drawCentredString(150, 780, "Số: ......./QĐ-UBND" if header_dots else "Số: /QĐ-UBND")
    page.drawCentredString(420, 780, "Hà Nội, ngày ... tháng ... năm 2026")
    page.drawString(60, 700, "Giao Chủ tịch UBND các quận, huyện tổ chức thực hiện." if body_mentions_title
                    else "Điều 1. Quyết định này có hiệu lực kể từ ngày ký.")
    if recipients_column:
        page.drawString(60, 600, "Nơi nhận:")
        page.drawString(60, 584, "- Như Điều 3;")
    page.drawCentredString(440, 600, "KT. CHỦ TỊCH")
    page.drawCentredString(440, 584, "PHÓ GIÁM ĐỐC" if body_mentions_title else "PHÓ CHỦ TỊCH")
    page.drawCentredString(440, 480, "Lê Hồng Sơn")
    page.showPage()
    page.save()
    return path


def approved_box(path: Path) -> tuple[float, float, float, float]:
    from pdf_checks import embedded_signatures

    signature = embedded_signatures(path.read_bytes())[0]
    return tuple(float(v) for v in signature.sig_field["/Rect"])


def test_block_goes_under_the_title_column_not_the_recipients(cli, tmp_path: Path) -> None:
    source = decision(tmp_path / "noi-nhan.pdf", recipients_column=True)
    out = tmp_path / "signed.pdf"
    sign(cli, source, out, "--profile", "approved")
    x1, y1, x2, y2 = approved_box(out)
    assert 330 < (x1 + x2) / 2 < 550, "centred under the title on the right, not across both columns"
    assert 480 < y1 and y2 < 590


def test_a_title_mentioned_in_the_body_is_not_the_anchor(cli, tmp_path: Path) -> None:
    source = decision(tmp_path / "giam-doc.pdf", body_mentions_title=True)
    out = tmp_path / "signed.pdf"
    sign(cli, source, out, "--profile", "approved")
    x1, y1, x2, y2 = approved_box(out)
    assert y2 < 590 and (x1 + x2) / 2 > 330, "below PHÓ GIÁM ĐỐC, not over the body text"


def test_seal_goes_over_the_leader_even_after_a_comment(cli, tmp_path: Path) -> None:
    source = decision(tmp_path / "d.pdf")
    approved, commented, issued = (tmp_path / f"{n}.pdf" for n in ("a", "c", "i"))
    sign(cli, source, approved, "--profile", "approved")
    sign(cli, approved, commented, "--profile", "comment", "--comment", "Đồng ý", "--cert", "clerk")
    sign(cli, commented, issued, "--profile", "issued", "--cert", "clerk", "--doc-number", "7/QĐ-UBND")
    assert valid_signatures(issued) == 3
    leader = approved_box(approved)
    from pdf_checks import embedded_signatures

    seal = tuple(float(v) for v in embedded_signatures(issued.read_bytes())[-1].sig_field["/Rect"])
    assert seal[0] < leader[0] < seal[2] < leader[2], "the seal's right edge lies inside the leader's block"
    assert leader[1] <= (seal[1] + seal[3]) / 2 <= leader[3]


def test_corner_blocks_stay_inside_the_crop_box(cli, tmp_path: Path) -> None:
    source = decision(tmp_path / "crop.pdf", crop=(40, 40, 555, 802))
    out = tmp_path / "copy.pdf"
    sign(cli, source, out, "--profile", "copy", "--cert", "clerk")
    x1, y1, x2, y2 = approved_box(out)
    assert 40 <= x1 and x2 <= 555 and 40 <= y1 and y2 <= 802


def test_missing_number_blank_and_bad_rectangles_are_refused(cli, tmp_path: Path) -> None:
    source = decision(tmp_path / "nodots.pdf", header_dots=False)
    approved = tmp_path / "a.pdf"
    sign(cli, source, approved, "--profile", "approved")
    done = cli("sign", str(approved), "-o", str(tmp_path / "i.pdf"), "--profile", "issued", "--cert", "clerk",
               "--doc-number", "7/QĐ-UBND")
    assert done.returncode == 4 and done.stderr.startswith("signer: HEADER_BLANK_NOT_FOUND: ") and "Số" in done.stderr
    for rect in ("nan,0,100,100", "-5000,-5000,-4000,-4900", "10,10,10,10"):
        done = cli("sign", str(source), "-o", str(tmp_path / "r.pdf"), "--profile", "plain", "--page", "1",
                   f"--rect={rect}")
        assert done.returncode == 9 and "BAD_REQUEST" in done.stderr, (rect, done.stderr)
        assert not (tmp_path / "r.pdf").exists()


def test_long_comment_wraps_inside_its_box(cli, tmp_path: Path) -> None:
    comment = ("Đồng ý với đề xuất của phòng Tài chính - Kế hoạch về việc phân bổ kinh phí năm 2027 "
               "cho các xã, phường thuộc quận Hoàn Kiếm")
    out = tmp_path / "comment.pdf"
    sign(cli, DOCUMENTS / "libreoffice.pdf", out, "--profile", "comment", "--comment", comment)
    assert valid_signatures(out) == 1
    text = " ".join(unicodedata.normalize("NFC", flattened_text(out.read_bytes(), 1)).split())
    for word in comment.split():
        assert word in text, word
    assert "Lê Hồng Sơn" in text


def blue_extent(image: Image.Image) -> tuple[int, int]:
    """Width and height of the area the blue pixels cover."""
    points = [(i % image.width, i // image.width) for i, rgb in enumerate(image.get_flattened_data()) if blue(rgb)]
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return max(xs) - min(xs), max(ys) - min(ys)


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_a_rotated_page_gets_its_blocks_upright_in_their_places(rotate: int, cli, dev_env: DevEnv,
                                                                tmp_path: Path) -> None:
    from pdf_checks import validate_all
    from pyhanko.sign.diff_analysis import ModificationLevel

    source = decision(tmp_path / "rotated.pdf", rotate=rotate)
    approved, issued = tmp_path / "a.pdf", tmp_path / "i.pdf"
    data = source.read_bytes()
    _, title = find_anchor(data, ("PHÓ CHỦ TỊCH",))  # as displayed
    _, name = find_anchor(data, ("Lê Hồng Sơn",))
    sign(cli, source, approved, "--profile", "approved")
    sign(cli, approved, issued, "--profile", "issued", "--cert", "clerk", "--doc-number", "7/QĐ-UBND",
         "--issued-date", "2026-02-05")
    assert valid_signatures(issued) == 2

    leader_page, page = render(approved, 1), render(issued, 1)
    assert abs(page.width - 595) <= 1 and abs(page.height - 842) <= 1, "shown as an upright portrait"
    between = (title[0] - 60, name[3], title[2] + 60, title[1])
    assert pixels(leader_page, between, blue) > 200, "the leader's signature sits between title and printed name"
    width, height = blue_extent(leader_page)
    assert width > 2 * height, "the (wide) signature image stands upright, not turned with the page"
    leader_left = (title[0] + title[2]) / 2 - 95
    assert pixels(page, (leader_left, name[3], leader_left + 190 / 3, title[1]), red) > 50, "seal on its left"
    text = " ".join(unicodedata.normalize("NFC", flattened_text(issued.read_bytes(), 1)).split())
    assert "Ký bởi: Lê Hồng Sơn" in text, "the block's text reads left to right on the screen"
    assert "ngày 05 tháng 02" in text.replace(". ", "").replace(".", ""), text
    leader, _ = validate_all(issued.read_bytes(), dev_env.dir / "pki" / "certs" / "root.cert.pem")
    assert leader.modification_level == ModificationLevel.FORM_FILLING


def test_issuing_fills_the_header_fields_and_the_leader_signature_keeps_its_standing(
        cli, dev_env: DevEnv, tmp_path: Path) -> None:
    """pyHanko's difference analysis (an independent validator) sees the clerk's update as
    a new signature and filled-in fields, which are allowed after the leader's signature."""
    from pdf_checks import embedded_signatures, validate_all
    from pyhanko.sign.diff_analysis import ModificationLevel

    source = decision(tmp_path / "d.pdf")
    approved, commented, issued = (tmp_path / f"{n}.pdf" for n in ("a", "c", "i"))
    sign(cli, source, approved, "--profile", "approved")
    sign(cli, approved, commented, "--profile", "comment", "--comment", "Đồng ý", "--cert", "clerk")
    sign(cli, commented, issued, "--profile", "issued", "--cert", "clerk", "--doc-number", "7/QĐ-UBND",
         "--issued-date", "2026-02-05")
    leader, comment, clerk = validate_all(issued.read_bytes(), dev_env.dir / "pki" / "certs" / "root.cert.pem")
    assert leader.modification_level == ModificationLevel.FORM_FILLING and leader.docmdp_ok
    assert comment.modification_level == ModificationLevel.FORM_FILLING and comment.docmdp_ok
    assert clerk.modification_level == ModificationLevel.LTA_UPDATES, "only its validation data (B-LT) follow"
    assert clerk.intact and clerk.valid

    form = embedded_signatures(issued.read_bytes())[0].reader.root["/AcroForm"]
    values = {str(f.get_object()["/T"]): str(f.get_object().get("/V", "")) for f in form["/Fields"]}
    assert {k: values[k] for k in ("so_thu_tu", "ngay_ban_hanh", "thang_ban_hanh")} == {
        "so_thu_tu": "7", "ngay_ban_hanh": "05", "thang_ban_hanh": "02"}
    header = render(issued, 1)
    before = render(source, 1)
    number_line = (60, 770, 240, 795)
    assert pixels(header, number_line, dark) != pixels(before, number_line, dark), "the number is on the page"


def test_a_comment_too_long_for_its_box_is_set_smaller_then_refused(cli, tmp_path: Path) -> None:
    words = "Đồng ý với đề xuất của phòng Tài chính - Kế hoạch về việc phân bổ kinh phí cho các xã".split()
    longer = " ".join(words * 2)  # five lines at 9 pt: more than the 60-point box holds
    out = tmp_path / "comment.pdf"
    sign(cli, DOCUMENTS / "libreoffice.pdf", out, "--profile", "comment", "--comment", longer)
    text = " ".join(unicodedata.normalize("NFC", flattened_text(out.read_bytes(), 1)).split())
    assert text.count("phân bổ kinh phí") == 2 and "Lê Hồng Sơn" in text, "all of it shows, set smaller"
    far_too_long = tmp_path / "too-long.pdf"
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(far_too_long), "--profile", "comment",
               "--comment", " ".join(words * 12))
    assert done.returncode == 9 and "BAD_REQUEST" in done.stderr and "does not fit" in done.stderr
    assert not far_too_long.exists()
