"""``signer preview``: the Decree 30 block drawn where signing would put it, with no token."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from conftest import DOCUMENTS, REPO
from pdf_checks import flattened_text
from PIL import Image

from signer.cli import preview as preview_cli
from signer.config import CertificateAppearance, Settings
from signer.engine.appearance import BlockFacts
from signer.engine.pdf import PdfSignOptions
from signer.engine.placement import PlacementRequest, find_anchor
from signer.engine.preview import preview_png, stamp_block
from signer.errors import SignerError

IMAGES = REPO / "fixtures" / "images"
LIBREOFFICE = DOCUMENTS / "libreoffice.pdf"
SIGNATURE = IMAGES / "leader-signature.png"
SEAL = IMAGES / "clerk-seal.png"
SCALE = 1.5
PAGE_HEIGHT = 841.889763779528  # A4, libreoffice.pdf
FACTS = BlockFacts(signer="Lê Hồng Sơn", organisation="Ủy ban nhân dân thành phố Hà Nội",
                   time=datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc), copy_form="SAO LỤC")

Box = tuple[int, int, int, int]  # pixels: left, top, right, bottom


def pixels(area_points: tuple[float, float, float, float]) -> Box:
    """A PDF rectangle (points, y from the bottom) as pixels of a page rendered at SCALE."""
    x1, y1, x2, y2 = area_points
    return (round(x1 * SCALE), round((PAGE_HEIGHT - y2) * SCALE), round(x2 * SCALE), round((PAGE_HEIGHT - y1) * SCALE))


def count(image: Image.Image, box: Box, test: Callable[[tuple[int, ...]], bool]) -> int:
    raw = image.crop(box).tobytes()
    return sum(1 for i in range(0, len(raw), 3) if test(tuple(raw[i:i + 3])))


def blue(pixel: tuple[int, ...]) -> bool:
    r, g, b = pixel
    return b > 140 and r < 90 and g < 110


def red(pixel: tuple[int, ...]) -> bool:
    r, g, b = pixel
    return r > 170 and g < 90 and b < 90


def dark(pixel: tuple[int, ...]) -> bool:
    return max(pixel) < 170  # black text, anti-aliased


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


def unstamped(path: Path) -> Image.Image:
    document = pdfium.PdfDocument(path.read_bytes())
    try:
        return document[0].render(scale=SCALE).to_pil().convert("RGB")
    finally:
        document.close()


def test_approved_shows_the_blue_signature_between_the_title_and_the_printed_name() -> None:
    data = LIBREOFFICE.read_bytes()
    _, title = find_anchor(data, ("PHÓ CHỦ TỊCH",))
    _, name = find_anchor(data, ("Lê Hồng Sơn",))
    centre = (title[0] + title[2]) / 2
    area = pixels((centre - 95, name[3], centre + 95, title[1]))  # approved.toml: 190 points wide

    image = png(preview_png(data, PdfSignOptions(profile="approved", image=SIGNATURE), FACTS, scale=SCALE))

    assert image.size == (round(595.303937007874 * SCALE), round(PAGE_HEIGHT * SCALE))
    inside = count(image, area, blue)
    assert inside > 200
    assert count(image, (0, 0, *image.size), blue) == inside  # all of the signature is in that area
    assert count(unstamped(LIBREOFFICE), area, blue) == 0


@pytest.mark.parametrize("profile", ["appendix", "copy", "income"])
def test_corner_profiles_write_text_in_the_free_top_right_of_page_one(profile: str) -> None:
    data = LIBREOFFICE.read_bytes()
    # appendix.toml, copy.toml, income.toml: 210 x 36 points, at least 10 mm from the edges. The motto
    # and the date line fill the top right corner, so the block moves down to the first free row
    # right of the title "QUYẾT ĐỊNH" (page-text boxes; the block keeps 3 points above and below them).
    _, motto = find_anchor(data, ("VIỆT NAM",), whole=False)
    _, date = find_anchor(data, ("năm 2026",), whole=False)
    assert date[1] < motto[1]
    area = pixels((595.3 - 28.35 - 150, date[1] - 3 - 30, 595.3 - 28.35 - 3, date[1] - 3 - 3))
    options = PdfSignOptions(profile=profile, doc_number="12/QĐ-UBND")

    image = png(preview_png(data, options, FACTS, scale=SCALE))

    assert count(unstamped(LIBREOFFICE), area, dark) == 0
    assert count(image, area, dark) > 60


def test_the_block_text_keeps_its_vietnamese_diacritics() -> None:
    stamped, spot, _ = stamp_block(LIBREOFFICE.read_bytes(), PdfSignOptions(profile="copy"), FACTS)

    text = unicodedata.normalize("NFC", flattened_text(stamped, 1))
    assert "SAO LỤC" in text
    assert "Ủy ban nhân dân thành phố Hà Nội" in text
    assert "Thời gian ký: 08:30:00 02/03/2026 +07:00" in text
    assert spot.page == 0


def test_the_seal_is_red_and_without_an_image_only_its_outline_shows() -> None:
    data = LIBREOFFICE.read_bytes()
    with_seal = png(preview_png(data, PdfSignOptions(profile="issued", image=SEAL), FACTS, scale=SCALE))
    outline_only = png(preview_png(data, PdfSignOptions(profile="issued"), FACTS, scale=SCALE))
    whole = (0, 0, *with_seal.size)

    assert count(with_seal, whole, red) > 1000
    assert count(outline_only, whole, red) == 0
    assert count(outline_only, whole, lambda p: p == (255, 128, 0)) > 100  # the dashed outline


def test_a_missing_anchor_is_anchor_not_found() -> None:
    with pytest.raises(SignerError) as caught:
        preview_png((DOCUMENTS / "pdflatex.pdf").read_bytes(),  # no fallback: someone will be asked
                    PdfSignOptions(profile="approved", placement=PlacementRequest(fallback=False)), FACTS)
    assert caught.value.code == "ANCHOR_NOT_FOUND"

    with pytest.raises(SignerError) as caught:
        preview_png(LIBREOFFICE.read_bytes(),
                    PdfSignOptions(profile="comment", comment="Đồng ý", placement=PlacementRequest(anchor="Điều 99")),
                    FACTS)
    assert caught.value.code == "ANCHOR_NOT_FOUND"


@pytest.mark.parametrize(("document", "options", "code"), [
    ("bad-not-a-pdf.pdf", PdfSignOptions(profile="plain"), "DOCUMENT_INVALID"),
    ("bad-encrypted.pdf", PdfSignOptions(profile="plain"), "DOCUMENT_ENCRYPTED"),
    ("libreoffice.pdf", PdfSignOptions(), "BAD_REQUEST"),
    ("libreoffice.pdf", PdfSignOptions(profile="nope"), "BAD_REQUEST"),
    ("libreoffice.pdf", PdfSignOptions(profile="plain", placement=PlacementRequest(page=-5, rect=(1, 1, 9, 9))),
     "BAD_REQUEST"),
    ("libreoffice.pdf", PdfSignOptions(profile="plain", placement=PlacementRequest(page=5, rect=(1, 1, 9, 9))),
     "BAD_REQUEST"),
    ("libreoffice.pdf", PdfSignOptions(profile="plain", placement=PlacementRequest(rect=(50, 50, 50, 90))),
     "BAD_REQUEST"),
])
def test_bad_requests_become_signer_errors(document: str, options: PdfSignOptions, code: str) -> None:
    with pytest.raises(SignerError) as caught:
        preview_png((DOCUMENTS / document).read_bytes(), options, FACTS)
    assert caught.value.code == code


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    preview_cli.register(parser.add_subparsers(), argparse.ArgumentParser(add_help=False))
    return parser.parse_args(["preview", *argv])


def test_the_command_uses_the_configured_look_and_leaves_the_input_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = hashlib.sha256(LIBREOFFICE.read_bytes()).hexdigest()
    out = tmp_path / "preview.png"
    settings = Settings(appearance={"leader": CertificateAppearance(signature_image=SIGNATURE)})

    assert preview_cli.run(parse(str(LIBREOFFICE), "-o", str(out), "--profile", "approved", "--cert", "leader"),
                           settings) == 0

    assert hashlib.sha256(LIBREOFFICE.read_bytes()).hexdigest() == before
    image = png(out.read_bytes())
    assert count(image, (0, 0, *image.size), blue) > 200
    assert str(out) in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["preview.png"]


def test_the_command_refuses_an_unconfigured_certificate(tmp_path: Path) -> None:
    args = parse(str(LIBREOFFICE), "-o", str(tmp_path / "x.png"), "--profile", "approved", "--cert", "nobody")
    with pytest.raises(SignerError) as caught:
        preview_cli.run(args, Settings())
    assert caught.value.code == "BAD_REQUEST"
    assert not list(tmp_path.iterdir())


SCRIPT = """
import argparse, json, sys
from drivers import tokens
from signer.cli import preview
from signer.config import load_settings
before = len(tokens._open_modules)
parser = argparse.ArgumentParser()
preview.register(parser.add_subparsers(), argparse.ArgumentParser(add_help=False))
args = parser.parse_args(["preview", *sys.argv[1:]])
preview.run(args, load_settings())
print(json.dumps({"before": before, "after": len(tokens._open_modules)}))
"""


def test_no_token_module_is_loaded(tmp_path: Path) -> None:
    """In a fresh process: this test session may have loaded SoftHSM for other tests."""
    out = tmp_path / "p.png"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(LIBREOFFICE), "-o", str(out), "--profile", "plain"],
                          check=False, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"before": 0, "after": 0}
    assert out.read_bytes().startswith(b"\x89PNG")
