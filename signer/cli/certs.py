"""``signer certs``: signing certificates on the connected tokens."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .output import print_json

if TYPE_CHECKING:
    from ..config import Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("certs", parents=[common], help="list signing certificates / liệt kê chứng thư số")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..keys import KeyStore

    with KeyStore(settings) as store:
        entries = store.certificates()
    if args.json:
        print_json([e.to_json() for e in entries])
        return 0
    if not entries:
        print("Không có chứng thư số nào. / No signing certificate found.")
    for e in entries:
        print(f"{e.label}  [{e.id}]  {e.common_name}  ({e.status()})")
        print(f"    issuer {e.issuer}")
        print(f"    valid {e.not_before:%Y-%m-%d} .. {e.not_after:%Y-%m-%d}, serial {e.serial}, "
              f"usage {', '.join(e.key_usage) or '-'}")
        print(f"    token {e.token.label} ({e.token.serial})")
    return 0
