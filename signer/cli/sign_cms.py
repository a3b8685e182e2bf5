"""``signer sign-cms IN -o OUT.p7s``: a detached CAdES-BES signature over any file."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from ..config import Settings
from ..engine.cms import sign_cms
from ..files import read_input, write_atomically
from ..keys import KeyStore


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("sign-cms", parents=[common], help="detached CMS signature / chữ ký CMS tách rời")
    parser.add_argument("input", type=Path, metavar="IN")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.p7s")
    parser.add_argument("--cert", metavar="LABEL|ID", help="certificate (default: the configured one)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    data = read_input(args.input)
    with KeyStore(settings) as store:
        key = store.signing_key(args.cert)
        signature = asyncio.run(sign_cms(data, key))
    write_atomically(args.output, signature.der)
    print(f"Đã ký / Signed: {args.output} (SHA-256 {signature.content_sha256})")
    return 0
