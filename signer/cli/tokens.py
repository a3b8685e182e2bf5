"""``signer tokens``: the tokens connected, with their PIN state."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .output import print_json

if TYPE_CHECKING:
    from ..config import Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("tokens", parents=[common], help="list connected tokens / liệt kê token")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from ..keys import KeyStore

    with KeyStore(settings) as store:
        tokens = store.tokens()
    if args.json:
        print_json([asdict(t) for t in tokens])
        return 0
    if not tokens:
        print("Không có token nào. / No token connected.")
    for t in tokens:
        state = [name.replace("_", " ") for name, on in asdict(t.flags).items() if on]
        print(f"{t.label or '(chưa khởi tạo / not initialised)'}  serial {t.serial or '-'}")
        print(f"    {t.manufacturer} {t.model}, module {t.module}")
        print(f"    {', '.join(state) or '-'}")
    return 0
