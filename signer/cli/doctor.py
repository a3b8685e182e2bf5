"""``signer doctor``: one checklist of what signing from a page needs on this computer, each line
with its fix in Vietnamese and English; exit code 0 only when nothing fails (warnings allowed)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from .output import print_json, printable

if TYPE_CHECKING:
    from ..config import Settings
    from ..doctor.result import CheckResult

MARKERS = {"pass": "✓", "warn": "!", "fail": "✗"}
ASCII_MARKERS = {"pass": "+", "warn": "!", "fail": "x"}  # a terminal that cannot show the others
FAILED = 1


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("doctor", parents=[common],
                            help="check this computer, with the fixes / chẩn đoán máy và cách sửa")
    parser.add_argument("--json", action="store_true", help="machine-readable output / kết quả dạng JSON")
    parser.add_argument("--root", type=Path, default=Path("/"),
                        help="read the browsers' policy files under this folder instead of / "
                             "(đọc chính sách trình duyệt trong thư mục này)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..doctor.checks import run_checks
    from ..doctor.machine import Machine

    machine = Machine(settings, home=Path.home(), policy_root=args.root)
    try:
        found = run_checks(machine)
    finally:
        machine.close()
    if args.json:
        print_json([asdict(r) for r in found])
    else:
        markers = MARKERS if _shows("".join(MARKERS.values())) else ASCII_MARKERS
        for line in found:
            print(_line(line, markers[line.status]))
    return FAILED if any(r.status == "fail" for r in found) else 0


def _line(found: CheckResult, marker: str) -> str:
    text = f"{marker} {found.name}: {printable(found.found)}"
    if found.fix_vi or found.fix_en:
        text += f" — Cách sửa: {found.fix_vi} / Fix: {found.fix_en}"
    return text


def _shows(text: str) -> bool:
    """Whether standard output's encoding can write ``text``."""
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
