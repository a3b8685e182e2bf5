"""``signer audit``: read the audit trail."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import Code, SignerError
from .output import print_json

if TYPE_CHECKING:
    from ..config import Settings

AGO = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("audit", parents=[common], help="read the audit log / xem nhật ký ký số")
    parser.add_argument("--since", metavar="WHEN", help="ISO time (2026-11-22T08:00) or age (30m, 12h, 7d)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=run)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    match = AGO.match(value.strip())
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise SignerError(Code.BAD_REQUEST, f"--since: not a time or age: {value}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from ..audit import AuditLog

    since = parse_since(args.since) if args.since else None
    entries = AuditLog(settings.server.state_dir / "audit.jsonl").read(since)
    if args.json:
        print_json([asdict(e) for e in entries])
        return 0
    for e in entries:
        doc = f" doc {e.document_sha256[:16]}… {e.document_size} B" if e.document_sha256 else ""
        cert = f" cert {e.certificate_sha256[:16]}…" if e.certificate_sha256 else ""
        print(f"{e.time}  {e.result:<18} {e.operation:<24} {e.origin}{cert}{doc}")
    return 0
