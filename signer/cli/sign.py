"""``signer sign IN.pdf -o OUT.pdf``: a PAdES signature with a token key."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from policies.profiles import LEVELS, profile_names

from ..service.options import PdfSignOptions, PlacementRequest
from .output import print_json

if TYPE_CHECKING:
    from ..config import Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("sign", parents=[common], help="sign a PDF / ký tệp PDF")
    parser.add_argument("input", type=Path, metavar="IN.pdf")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.pdf")
    parser.add_argument("--cert", metavar="LABEL|ID", help="certificate (default: the configured one)")
    parser.add_argument("--reason", help="reason shown in the signature")
    parser.add_argument("--location", help="location shown in the signature")
    parser.add_argument("--profile", choices=profile_names(), help="Decree 30 signature block (visible)")
    add_block_options(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def add_block_options(parser: argparse.ArgumentParser) -> None:
    """Where the block goes and what it shows (shared with ``signer preview``)."""
    parser.add_argument("--anchor", metavar="TEXT", help="place the block below this text")
    parser.add_argument("--page", type=int, help="page for --rect, from 1 (negative: from the end)")
    parser.add_argument("--rect", type=_rect, metavar="X1,Y1,X2,Y2", help="block rectangle in points")
    parser.add_argument("--doc-number", default="", help="document number (Số: ...)")
    parser.add_argument("--issued-date", default="", metavar="YYYY-MM-DD", help="issuing date")
    parser.add_argument("--copy-form", default="SAO Y", choices=["SAO Y", "SAO LỤC", "TRÍCH SAO"])
    parser.add_argument("--comment", default="", help="comment text (profile comment)")
    parser.add_argument("--level", choices=LEVELS, default=None,
                        help="PAdES level (default: the profile's, B-B without a profile)")


def _rect(value: str) -> tuple[float, float, float, float]:
    try:
        x1, y1, x2, y2 = (float(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected four numbers: x1,y1,x2,y2") from None
    return (x1, y1, x2, y2)


def options_from(args: argparse.Namespace) -> PdfSignOptions:
    return PdfSignOptions(
        reason=args.reason, location=args.location, profile=args.profile,
        placement=PlacementRequest(page=args.page, rect=args.rect, anchor=args.anchor),
        doc_number=args.doc_number, issued_date=args.issued_date, copy_form=args.copy_form, comment=args.comment,
        level=args.level,
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from ..daemon import local_signing
    from ..files import read_input, write_atomically
    from ..service.caller import Caller
    from ..service.trail import audited

    data = read_input(args.input)
    signing = local_signing(settings)
    try:
        with audited(signing.audit, Caller(origin=None), "cli sign") as caller:
            signed = asyncio.run(signing.service.sign_pdf(caller, data, options_from(args), args.cert,
                                                          name=args.input.name))
            write_atomically(args.output, signed.data)
    finally:
        signing.close()
    result = {
        "output": str(args.output),
        "field": signed.field_name,
        "signer": signed.signer,
        "signing_time": signed.signing_time.isoformat(),
        "input_sha256": signed.input_sha256,
        "level": signed.level,
    }
    if args.json:
        print_json(result)
    else:
        print(f"Đã ký / Signed: {args.output} (field {signed.field_name}, {signed.signer}, "
              f"{signed.signing_time:%Y-%m-%d %H:%M:%S} UTC, {signed.level})")
    return 0
