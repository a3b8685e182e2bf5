"""``signer preview IN.pdf --profile NAME -o OUT.png``: where the signature block would go
and how it looks, without a token (for IT staff tuning profiles)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from policies.profiles import load_profile

from ..errors import Code, SignerError
from ..service.options import add_arguments, from_arguments
from ..service.placing import placed_note

if TYPE_CHECKING:
    from ..config import CertificateAppearance, Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("preview", parents=[common],
                            help="render the signature block on its page / xem trước chữ ký trên văn bản")
    parser.add_argument("input", type=Path, metavar="IN.pdf", help="the PDF / tệp PDF")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.png",
                        help="the page's picture / ảnh của trang")
    parser.add_argument("--cert", metavar="LABEL",
                        help="use the images and organisation configured for this certificate (no token is "
                             "opened) / dùng hình ảnh và cơ quan đã cấu hình cho chứng thư số này (không mở token)")
    parser.add_argument("--signer", default="Người ký", metavar="NAME",
                        help="signer name shown in the block / tên người ký hiện trong khối chữ ký")
    parser.add_argument("--organisation", metavar="TEXT",
                        help="organisation shown in the block / tên cơ quan hiện trong khối chữ ký")
    add_arguments(parser, "preview", required=("profile",))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..files import read_input, write_atomically
    from ..service.previews import preview_png

    data = read_input(args.input)
    look = _look(settings, args.cert)
    image = {"signature": look.signature_image, "seal": look.seal_image}.get(load_profile(args.profile).image)
    options = replace(from_arguments(args, "preview")[0], image=image)
    png, spot = preview_png(data, options, signer=args.signer,
                            organisation=args.organisation or look.organisation or "Tên cơ quan",
                            time=datetime.now(UTC))
    write_atomically(args.output, png)
    print(f"Đã tạo ảnh xem trước / Preview written: {args.output} (profile {args.profile}, page {spot.page + 1})")
    if placed_note(spot):
        print(placed_note(spot), file=sys.stderr)
    return 0


def _look(settings: Settings, label: str | None) -> CertificateAppearance:
    from ..config import CertificateAppearance

    if label is None:
        return CertificateAppearance()
    if label not in settings.appearance:
        known = ", ".join(sorted(settings.appearance)) or "none"
        raise SignerError(Code.BAD_REQUEST, f"no [appearance.{label}] in the configuration (configured: {known})",
                          vi=f"cấu hình không có mục [appearance.{label}] (các mục đã có: {known})")
    return settings.appearance[label]
