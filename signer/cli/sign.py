"""``signer sign IN.pdf -o OUT.pdf``: a PAdES signature with a token key."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from ..config import Settings
from policies.profiles import LEVELS, copy_forms, profile_names

from ..engine.pdf import PdfSignOptions, sign_pdf
from ..engine.placement import PlacementRequest
from ..files import read_input, write_atomically
from ..keys import KeyStore
from ..operations import tsa_for, with_certificate_look
from .output import print_json


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
    parser.add_argument("--copy-form", default=copy_forms()[0], choices=copy_forms(),
                        help="copy form (profile copy; default: %(default)s)")
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
    data = read_input(args.input)
    with KeyStore(settings) as store:
        key = store.signing_key(args.cert)
        options = with_certificate_look(options_from(args), settings, key)
        signed = asyncio.run(sign_pdf(data, key, options, tsa=tsa_for(settings)))
    write_atomically(args.output, signed.data)
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
