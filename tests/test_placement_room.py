"""Signature blocks never cover the page's text: layouts drafted as offices draft them (reportlab),
signed through the real command line on SoftHSM, and checked with poppler alone: the pixels a
signature changes (``pdftoppm`` of the original and the signed page) lie outside every word box
of the original (``pdftotext -bbox``), or the request is refused with BLOCK_NO_ROOM."""

from __future__ import annotations

import re
import subprocess
import tempfile
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import DevEnv
from PIL import Image, ImageChops
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from test_policy_data import policy_copy, rects, run_cli

from policies.profiles import MIN_MARGIN, load_profile, profile_names
from signer.engine import pdf
from signer.engine.options import Holder, PdfSignOptions, PlacementRequest
from signer.errors import SignerError

FONT = Path(__file__).resolve().parent.parent / "signer" / "engine" / "fonts" / "LiberationSerif-Regular.ttf"
DPI = 72  # one pixel per point
TOLERANCE = 1  # pixels: anti-aliasing at a box's edge
NAME = "Lê Hồng Sơn"  # the test leader certificate's common name (its title: "Phó Chủ tịch")
TITLE_X = 430  # the centre of the signature column
TITLE_Y = 300  # the baseline of the title group's first line
BODY = ["Điều 1. Ban hành kèm theo Quyết định này Quy chế sử dụng chữ ký số chuyên dùng Chính phủ.",
        "Điều 2. Quyết định này có hiệu lực kể từ ngày ký.",
        "Điều 3. Chánh Văn phòng, Thủ trưởng các đơn vị có liên quan chịu trách nhiệm thi hành."]
RECIPIENTS = ["Nơi nhận:", "- Như Điều 3;", "- Văn phòng Chính phủ (để báo cáo);",
              "- Thường trực Thành ủy, HĐND Thành phố;", "- Các Sở, ban, ngành Thành phố;", "- Lưu: VT, KSTT."]


def draft(path: Path, titles: Sequence[str], *, spacing: float = 80, name: str | None = NAME,
          recipients: bool = False, body: Sequence[str] = BODY) -> Path:
    """An A4 decision: the body, then the signature column on the right (the title group, the
    printed name ``spacing`` points under the last title line), the recipients on the left."""
    pdfmetrics.registerFont(TTFont("LiberationSerifTest", str(FONT)))
    page = canvas.Canvas(str(path), pagesize=A4)
    page.setFont("LiberationSerifTest", 12)
    page.drawCentredString(430, 800, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    page.drawCentredString(430, 784, "Độc lập - Tự do - Hạnh phúc")
    page.drawString(60, 740, "Số: ......./QĐ-UBND")
    page.drawCentredString(430, 740, "Hà Nội, ngày ... tháng ... năm 2026")
    for row, line in enumerate(body):
        page.drawString(60, 600 - 18 * row, line)
    for row, line in enumerate(titles):
        page.drawCentredString(TITLE_X, TITLE_Y - 16 * row, line)
    if name:
        page.drawCentredString(TITLE_X, TITLE_Y - 16 * (len(titles) - 1) - spacing, name)
    if recipients:
        for row, line in enumerate(RECIPIENTS):
            page.drawString(60, TITLE_Y - 14 * row, line)
    page.save()
    return path


def render(path: Path) -> Image.Image:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "page"
        subprocess.run(["pdftoppm", "-r", str(DPI), "-f", "1", "-l", "1", "-png", "-singlefile", str(path),
                        str(out)], check=True)
        return Image.open(f"{out}.png").convert("RGB")


def word_boxes(path: Path) -> list[tuple[float, float, float, float]]:
    """The words of the page as poppler reads them (x, y from the top, in points)."""
    xhtml = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-"], capture_output=True,
                           text=True, check=True).stdout
    return [tuple(float(v) for v in m) for m in re.findall(
        r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)"', xhtml)]  # type: ignore[misc]


def changes_over_text(original: Path, signed: Path, *, from_top: int = 0) -> tuple[int, int]:
    """Pixels the signature changed in all, and those inside the original's word boxes, from
    ``from_top`` points down (the header's number and date are written into the page by design)."""
    diff = ImageChops.difference(render(original), render(signed)).convert("L").point(lambda v: 255 if v > 24 else 0)
    changed = [(x, y) for y in range(from_top, diff.height) for x in range(diff.width) if diff.getpixel((x, y))]
    boxes = [(x0 + TOLERANCE, y0 + TOLERANCE, x1 - TOLERANCE, y1 - TOLERANCE)
             for x0, y0, x1, y1 in word_boxes(original)]
    over = [p for p in changed if any(b[0] <= p[0] <= b[2] and b[1] <= p[1] <= b[3] for b in boxes)]
    return len(changed), len(over)


def sign(cli, source: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = source.with_name(source.stem + "-signed.pdf")
    return cli("sign", str(source), "-o", str(out), *args), out


def assert_clear_of_text(source: Path, signed: Path) -> None:
    changed, over = changes_over_text(source, signed)
    assert changed > 200, "the block is drawn"
    assert over == 0, f"{over} pixels of the block lie over the page's text"


@pytest.mark.parametrize("spacing", [50, 62, 80, 100, 120])
def test_the_leaders_block_never_covers_the_printed_name(spacing: int, cli, tmp_path: Path) -> None:
    source = draft(tmp_path / f"spacing-{spacing}.pdf", ["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"], spacing=spacing)
    done, signed = sign(cli, source, "--profile", "approved")
    if spacing == 50 and done.returncode != 0:  # 50 points hold the title's descent, the name and little else
        assert "BLOCK_NO_ROOM" in done.stderr and not signed.exists()
        return
    assert done.returncode == 0, done.stderr
    assert_clear_of_text(source, signed)
    ((x0, y0, x1, y1),) = rects(signed)
    assert y1 <= TITLE_Y - 16 and x0 < TITLE_X < x1, "below the title group's last line, centred on it"


def test_no_room_at_all_is_refused_and_preview_says_the_same(cli, tmp_path: Path) -> None:
    source = draft(tmp_path / "tight.pdf", ["PHÓ CHỦ TỊCH"], spacing=30)
    done, signed = sign(cli, source, "--profile", "approved")
    assert done.returncode == 4 and "BLOCK_NO_ROOM" in done.stderr and not signed.exists()
    shown = cli("preview", str(source), "-o", str(tmp_path / "tight.png"), "--profile", "approved")
    assert shown.returncode == 4 and "BLOCK_NO_ROOM" in shown.stderr
    roomy = draft(tmp_path / "roomy.pdf", ["PHÓ CHỦ TỊCH"], spacing=100)
    assert cli("preview", str(roomy), "-o", str(tmp_path / "roomy.png"), "--profile", "approved").returncode == 0


def test_two_columns_the_recipients_stay_uncovered_and_the_seal_too(cli, tmp_path: Path) -> None:
    source = draft(tmp_path / "columns.pdf", ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"], spacing=80, recipients=True)
    done, approved = sign(cli, source, "--profile", "approved")
    assert done.returncode == 0, done.stderr
    assert_clear_of_text(source, approved)
    done, issued = sign(cli, approved, "--profile", "issued", "--cert", "clerk", "--doc-number", "7/QĐ-UBND")
    assert done.returncode == 0, done.stderr
    changed, over = changes_over_text(source, issued, from_top=842 - 700)
    assert changed > 0 and over == 0, "neither the leader's block nor the seal covers text"
    leader, seal = rects(issued)
    assert seal[0] < leader[0] < seal[2] < leader[2], "the seal still overlaps the leader's block on its left"


@pytest.mark.parametrize("titles", [
    ["TL. CHỦ TỊCH", "CHÁNH VĂN PHÒNG"], ["KT. BỘ TRƯỞNG", "THỨ TRƯỞNG"], ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"],
    ["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"], ["TUQ. CHỦ TỊCH", "GIÁM ĐỐC SỞ NỘI VỤ"], ["Q. GIÁM ĐỐC"], ["TRƯỞNG BAN"],
    ["HIỆU TRƯỞNG"], ["KT. HIỆU TRƯỞNG", "PHÓ HIỆU TRƯỞNG"], ["CHÁNH THANH TRA"], ["TỔNG CỤC TRƯỞNG"],
])
def test_title_groups_as_offices_write_them(titles: list[str], tmp_path: Path) -> None:
    source = draft(tmp_path / "titles.pdf", titles)
    spot = plan(source)
    assert spot.placed_by == "title"
    last = TITLE_Y - 16 * (len(titles) - 1)  # the baseline of the group's last line
    assert last - 12 <= spot.box[3] <= last - 2, "right under the group's last line"


def test_every_listed_title_places_the_block_whatever_its_case_spacing_or_composition(tmp_path: Path) -> None:
    for title in load_profile("approved").placement.anchors:
        written = unicodedata.normalize("NFD", "  ".join(title.title().split()))
        assert plan(draft(tmp_path / "t.pdf", [written])).placed_by == "title", title


def test_a_title_mentioned_in_the_body_is_no_anchor(tmp_path: Path) -> None:
    body = [*BODY, "Giao Phó Chủ tịch phụ trách chỉ đạo thực hiện;", "Trưởng ban chịu trách nhiệm thi hành."]
    spot = plan(draft(tmp_path / "body.pdf", [], name=None, body=body))
    assert spot.placed_by == "fallback"


def test_a_title_only_in_the_certificate_places_the_block(tmp_path: Path) -> None:
    source = draft(tmp_path / "unlisted.pdf", ["KT. TRƯỞNG ĐOÀN THANH TRA", "PHÓ TRƯỞNG ĐOÀN THANH TRA LIÊN NGÀNH"])
    assert plan(source).placed_by == "fallback"
    spot = plan(source, Holder(title="Phó trưởng đoàn thanh tra liên ngành", name=NAME))
    assert spot.placed_by == "certificate" and spot.box[3] <= TITLE_Y - 16 - 2


def test_the_leaders_certificate_title_places_the_block_through_the_cli(dev_env: DevEnv, tmp_path: Path) -> None:
    copy = policy_copy(tmp_path / "copy", approved={"placement.fallback": '"refuse"'})
    approved = copy / "policies" / "profiles" / "approved.toml"
    text, count = re.subn(r"^anchors = \[.*?\]$", 'anchors = ["GIÁM ĐỐC"]', approved.read_text("utf-8"),
                          flags=re.MULTILINE | re.DOTALL)
    assert count == 1
    approved.write_text(text, "utf-8")
    source = draft(tmp_path / "certificate-title.pdf", ["PHÓ CHỦ TỊCH"])  # the test leader's title only
    out = tmp_path / "signed.pdf"
    done = run_cli(dev_env, copy, tmp_path / "run", "sign", str(source), "-o", str(out), "--profile", "approved")
    assert done.returncode == 0, done.stderr
    ((x0, _, x1, y1),) = rects(out)
    assert TITLE_Y - 12 <= y1 <= TITLE_Y - 2 and x0 < TITLE_X < x1
    assert_clear_of_text(source, out)


def test_a_printed_name_alone_places_the_block_above_it(cli, tmp_path: Path) -> None:
    source = draft(tmp_path / "name-only.pdf", [], spacing=0, name=NAME)
    assert plan(source, Holder(name=unicodedata.normalize("NFD", NAME.upper()))).placed_by == "name"
    done, signed = sign(cli, source, "--profile", "approved")
    assert done.returncode == 0, done.stderr
    ((_, y0, _, _),) = rects(signed)
    assert y0 >= TITLE_Y + 9, "above the name"
    assert_clear_of_text(source, signed)


def test_no_anchor_the_fallback_uses_free_space_at_the_bottom_right(cli, tmp_path: Path) -> None:
    body = [*BODY, *(f"Khoản {n}. Nội dung quy định chi tiết của khoản này." for n in range(25))]
    source = draft(tmp_path / "no-anchor.pdf", [], name=None, body=body)
    spot = plan(source)
    assert spot.placed_by == "fallback" and spot.page == 0
    with pytest.raises(SignerError) as caught:
        plan(source, fallback=False)
    assert caught.value.code == "ANCHOR_NOT_FOUND"
    done, signed = sign(cli, source, "--profile", "approved")
    assert done.returncode == 0, done.stderr
    assert "the block was put in free space at the bottom right of the last page" in done.stderr, "the official is told"
    shown = cli("preview", str(source), "-o", str(tmp_path / "where.png"), "--profile", "approved")
    assert shown.returncode == 0 and "at the bottom right of the last page" in shown.stderr, "preview says the same"
    ((x0, y0, x1, _),) = rects(signed)
    assert x1 <= 595 - MIN_MARGIN + 1 and x1 >= 595 - MIN_MARGIN - 1 and y0 >= MIN_MARGIN - 1
    assert_clear_of_text(source, signed)


def test_a_rectangle_off_the_page_is_refused_with_the_pages_size(cli, tmp_path: Path) -> None:
    source = draft(tmp_path / "rect.pdf", ["PHÓ CHỦ TỊCH"])
    done, signed = sign(cli, source, "--profile", "approved", "--page", "1", "--rect", "450,100,640,178")
    assert done.returncode == 9 and "BAD_REQUEST" in done.stderr and "595.276×841.89" in done.stderr
    assert not signed.exists()
    done, signed = sign(cli, source, "--profile", "approved", "--page", "1", "--rect", "380,100,570,178")
    assert done.returncode == 0, done.stderr


def test_an_empty_comment_is_refused(cli, tmp_path: Path) -> None:
    source = draft(tmp_path / "comment.pdf", ["PHÓ CHỦ TỊCH"])
    for comment in ("", "   \t"):
        done, signed = sign(cli, source, "--profile", "comment", "--comment", comment)
        assert done.returncode == 9 and "comment is empty" in done.stderr and not signed.exists()


def test_corner_blocks_keep_ten_millimetres_and_cover_no_text(tmp_path: Path) -> None:
    source = draft(tmp_path / "header.pdf", ["PHÓ CHỦ TỊCH"])
    for name in profile_names():
        profile = load_profile(name)
        if profile.placement.mode != "corner":
            continue
        assert profile.placement.margin >= MIN_MARGIN, name
        x0, y0, x1, y1 = plan(source, profile=name).box
        assert x0 >= MIN_MARGIN - 0.5 and y0 >= MIN_MARGIN - 0.5, name
        assert x1 <= 595.28 - MIN_MARGIN + 0.5 and y1 <= 841.89 - MIN_MARGIN + 0.5, name
        top, bottom = 841.89 - y1, 841.89 - y0  # poppler's boxes run from the page's top
        assert not [w for w in word_boxes(source) if w[0] < x1 and w[2] > x0 and w[1] < bottom and w[3] > top], \
            f"{name}: clear of the motto and every other text"


def test_the_loader_refuses_a_corner_margin_under_ten_millimetres(dev_env: DevEnv, tmp_path: Path) -> None:
    copy = policy_copy(tmp_path / "copy", copy={"placement.margin": "5"})
    done = run_cli(dev_env, copy, tmp_path / "run", "sign", str(draft(tmp_path / "d.pdf", ["CHỦ TỊCH"])), "-o",
                   str(tmp_path / "out.pdf"), "--profile", "copy")
    assert done.returncode != 0 and "CONFIG_INVALID" in done.stderr and "10 mm" in done.stderr


def plan(source: Path, holder: Holder | None = None, *, fallback: bool = True, profile: str = "approved"):
    options = PdfSignOptions(profile=profile, comment="Đồng ý",
                             placement=PlacementRequest(holder=holder, fallback=fallback))
    planned = pdf.plan_pdf(source.read_bytes(), options)
    assert planned is not None
    return planned.spot
