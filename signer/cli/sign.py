"""``signer sign IN.pdf -o OUT.pdf``: a PAdES signature with a token key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..service.options import add_arguments, from_arguments
from ..service.placing import placed_note, spot_facts
from ..service.repaired import NOTE_EN, NOTE_VI
from .output import announce_waits, print_json

if TYPE_CHECKING:
    from ..config import Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("sign", parents=[common], help="sign a PDF / ký tệp PDF")
    parser.add_argument("input", type=Path, metavar="IN.pdf", help="the PDF to sign / tệp PDF cần ký")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.pdf",
                        help="the signed PDF / tệp PDF đã ký")
    add_arguments(parser, "pdf")
    parser.add_argument("--json", action="store_true", help="print the result as JSON / in kết quả dạng JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from ..companion.terminal import TerminalAuthoriser, terminal_plug_in
    from ..daemon import local_signing
    from ..files import read_input, write_atomically
    from ..service.caller import CLI, Caller
    from ..service.trail import audited

    options, cert = from_arguments(args)
    data = read_input(args.input)
    signing = local_signing(settings, terminal_plug_in(), TerminalAuthoriser())
    try:
        with audited(signing.audit, Caller(origin=None, client=CLI), "cli sign") as caller:
            with announce_waits():
                signed = asyncio.run(signing.service.sign_pdf(caller, data, options, cert, name=args.input.name))
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
        "repaired": signed.repaired,
        "placement": spot_facts(signed.spot),
    }
    if placed_note(signed.spot):
        print(placed_note(signed.spot), file=sys.stderr)
    if signed.repaired:
        result["repaired_sha256"] = signed.repaired_sha256
        print(f"{NOTE_VI} / {NOTE_EN}", file=sys.stderr)
    if args.json:
        print_json(result)
    else:
        print(f"Đã ký / Signed: {args.output} (field {signed.field_name}, {signed.signer}, "
              f"{signed.signing_time:%Y-%m-%d %H:%M:%S} UTC, {signed.level})")
    return 0
