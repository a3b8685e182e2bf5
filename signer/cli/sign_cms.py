"""``signer sign-cms IN -o OUT.p7s``: a detached CAdES-BES signature over any file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .output import announce_waits

if TYPE_CHECKING:
    from ..config import Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("sign-cms", parents=[common], help="detached CMS signature / chữ ký CMS tách rời")
    parser.add_argument("input", type=Path, metavar="IN", help="the file to sign / tệp cần ký")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.p7s",
                        help="the detached signature / tệp chữ ký tách rời")
    parser.add_argument("--cert", metavar="LABEL|ID",
                        help="certificate (default: the configured one) / chứng thư số (mặc định: chứng thư số "
                             "đã cấu hình)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from ..companion.terminal import TerminalAuthoriser, terminal_plug_in
    from ..daemon import local_signing
    from ..files import read_input, write_atomically
    from ..service.caller import CLI, Caller
    from ..service.trail import audited

    data = read_input(args.input)
    signing = local_signing(settings, terminal_plug_in(), TerminalAuthoriser())
    try:
        with audited(signing.audit, Caller(origin=None, client=CLI), "cli sign-cms") as caller:
            with announce_waits():
                signature = asyncio.run(signing.service.sign_cms(caller, data, args.cert))
            write_atomically(args.output, signature.der)
    finally:
        signing.close()
    print(f"Đã ký / Signed: {args.output} (SHA-256 {signature.content_sha256})")
    return 0
