"""Write docs/images/profile-<name>.png: each Decree 30 profile previewed on the sample decision.

    python docs/make_profile_samples.py

The blocks are drawn with ``signer.engine.preview`` (no token) on
fixtures/documents/libreoffice.pdf with the sample images of fixtures/images, and each
picture is cropped to the part of the page around the block. The seal of ``issued`` is
shown over the leader's ``approved`` block, where a real issuing signature puts it.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import Image

from policies.profiles import load_profile, profile_names
from signer.engine.appearance import BlockFacts
from signer.engine.options import PdfSignOptions, PlacementRequest
from signer.engine.placement import Rect, seal_over
from signer.engine.preview import preview_png, stamp_block

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "docs" / "images"
DOCUMENT = REPO / "fixtures" / "documents" / "libreoffice.pdf"
SIGNATURE = REPO / "fixtures" / "images" / "leader-signature.png"
SEAL = REPO / "fixtures" / "images" / "clerk-seal.png"
WINDOW = (320.0, 200.0)  # points of the page around the block
WIDTH = 700  # pixels
SCALE = WIDTH / WINDOW[0]
FACTS = BlockFacts(
    signer="Lê Hồng Sơn", organisation="Ủy ban nhân dân thành phố Hà Nội",
    time=datetime(2026, 3, 2, 8, 30, tzinfo=timezone(timedelta(hours=7))),
    doc_number="125/QĐ-UBND", issued_date="2026-03-02", copy_form="SAO Y",
    comment="Đồng ý, trình Chủ tịch ký ban hành.",
)
OPTIONS = {
    "approved": PdfSignOptions(profile="approved", image=SIGNATURE),
    "comment": PdfSignOptions(profile="comment", placement=PlacementRequest(anchor="Điều 2")),
}


def sample(name: str, data: bytes) -> bytes:
    """The cropped preview of one profile, as PNG."""
    if name == "issued":  # the seal over the left third of the leader's signature
        data, leader, _ = stamp_block(data, OPTIONS["approved"], FACTS)
        seal = load_profile("issued")
        box = seal_over(leader.box, seal.width, seal.height, seal.placement.overlap)
        placement = PlacementRequest(page=leader.page + 1, rect=box)
        options = PdfSignOptions(profile="issued", image=SEAL, placement=placement)
        focus = (box[0], min(box[1], leader.box[1]), leader.box[2], max(box[3], leader.box[3]))
    else:
        options = OPTIONS.get(name, PdfSignOptions(profile=name))
        focus = stamp_block(data, options, FACTS)[1].box
    page = Image.open(io.BytesIO(preview_png(data, options, FACTS, scale=SCALE)))
    out = io.BytesIO()
    page.crop(_window(focus, page.size)).save(out, "PNG", optimize=True)
    return out.getvalue()


def _window(box: Rect, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """WINDOW around the centre of ``box`` (points), inside the page, in pixels (y from the top)."""
    width, height = round(WINDOW[0] * SCALE), round(WINDOW[1] * SCALE)
    centre_x = (box[0] + box[2]) / 2 * SCALE
    centre_y = size[1] - (box[1] + box[3]) / 2 * SCALE
    left = min(max(round(centre_x - width / 2), 0), size[0] - width)
    top = min(max(round(centre_y - height / 2), 0), size[1] - height)
    return (left, top, left + width, top + height)


def main() -> None:
    data = DOCUMENT.read_bytes()
    TARGET.mkdir(exist_ok=True)
    for name in profile_names():
        path = TARGET / f"profile-{name}.png"
        path.write_bytes(sample(name, data))
        print(path.relative_to(REPO))


if __name__ == "__main__":
    main()
