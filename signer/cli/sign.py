"""``signer sign IN.pdf -o OUT.pdf``: a PAdES signature with a token key."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from ..config import Settings
from ..engine.pdf import PdfSignOptions, sign_pdf
from ..files import read_input, write_atomically
from ..keys import KeyStore
from .output import print_json


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("sign", parents=[common], help="sign a PDF / ký tệp PDF")
    parser.add_argument("input", type=Path, metavar="IN.pdf")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.pdf")
    parser.add_argument("--cert", metavar="LABEL|ID", help="certificate (default: the configured one)")
    parser.add_argument("--reason", help="reason shown in the signature")
    parser.add_argument("--location", help="location shown in the signature")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    data = read_input(args.input)
    with KeyStore(settings) as store:
        key = store.signing_key(args.cert)
        signed = asyncio.run(sign_pdf(data, key, PdfSignOptions(reason=args.reason, location=args.location)))
    write_atomically(args.output, signed.data)
    result = {
        "output": str(args.output),
        "field": signed.field_name,
        "signer": signed.signer,
        "signing_time": signed.signing_time.isoformat(),
        "input_sha256": signed.input_sha256,
    }
    if args.json:
        print_json(result)
    else:
        print(f"Đã ký / Signed: {args.output} (field {signed.field_name}, {signed.signer}, "
              f"{signed.signing_time:%Y-%m-%d %H:%M:%S} UTC)")
    return 0
