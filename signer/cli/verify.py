"""``signer verify FILE.pdf``: integrity, signer and chain of each signature."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from ..config import Settings
from ..engine.verify import verify_pdf
from ..files import read_input
from ..keys import load_certificates
from .output import print_json

NOT_PASSED = 10  # the document was read, but not every signature passed


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("verify", parents=[common], help="check the signatures of a PDF / kiểm tra chữ ký")
    parser.add_argument("input", type=Path, metavar="FILE.pdf")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    reports = verify_pdf(read_input(args.input), load_certificates(settings.trust.anchors),
                         load_certificates(settings.trust.intermediates))
    passed = bool(reports) and all(r.passed for r in reports)
    if args.json:
        print_json({"signatures": [{**asdict(r), "passed": r.passed} for r in reports], "passed": passed})
    else:
        if not reports:
            print("Không có chữ ký nào. / No signature.")
        for r in reports:
            verdict = "HỢP LỆ / PASSED" if r.passed else "KHÔNG HỢP LỆ / NOT PASSED"
            print(f"{r.field}: {verdict}  {r.signer}  {r.signing_time or ''}")
            print(f"    intact={r.intact} valid={r.valid} trusted={r.trusted} coverage={r.coverage}")
    return 0 if passed else NOT_PASSED
