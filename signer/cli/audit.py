"""``signer audit``: read the audit trail (every rotated file, oldest first), or check its chain."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import Code, SignerError
from .output import print_json, printable

if TYPE_CHECKING:
    from ..audit_chain import ChainReport
    from ..config import Settings

AGO = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
BROKEN = 10  # the trail was read, and a line was removed, edited or damaged

REASONS = {
    "damaged": "dòng hỏng, không phải JSON / a damaged line, not JSON",
    "mismatch": "không khớp với dòng trước: có dòng bị xóa hoặc sửa / does not match the line before: "
                "a line was removed or edited",
    "unchained": "thiếu liên kết chuỗi băm / no hash-chain link",
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("audit", parents=[common], help="read the audit log / xem nhật ký ký số")
    parser.add_argument("--since", metavar="WHEN",
                        help="ISO time (2026-11-22T08:00) or age (30m, 12h, 7d) / từ thời điểm ISO "
                             "(2026-11-22T08:00) hoặc khoảng thời gian đã qua (30m, 12h, 7d)")
    parser.add_argument("--check", action="store_true",
                        help="check that no line was removed or edited / kiểm tra nhật ký không bị xóa, sửa")
    parser.add_argument("--json", action="store_true", help="machine-readable output / kết quả dạng JSON")
    parser.set_defaults(run=run)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    match = AGO.match(value.strip())
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise SignerError(Code.BAD_REQUEST, f"--since: not a time or age: {value}",
                          vi=f"--since: không phải thời điểm hoặc khoảng thời gian: {value}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from ..audit import AuditLog

    log = AuditLog(settings.server.state_dir / "audit.jsonl")
    if args.check:
        return check(log.check(), as_json=args.json)
    since = parse_since(args.since) if args.since else None
    entries = log.read(since)
    if args.json:
        print_json([asdict(e) for e in entries])
        return 0
    for e in entries:
        # every field shown escaped: a line cannot move the cursor, erase or imitate another
        doc = f" doc {_short(e.document_sha256)}… {printable(e.document_size)} B" if e.document_sha256 else ""
        cert = f" cert {_short(e.certificate_sha256)}…" if e.certificate_sha256 else ""
        peer = f"(peer {printable(e.peer)}) " if e.peer else ""  # a refusal without Origin: who it came from
        # refusals counted together (one is shown as any line)
        several = e.window_s is not None and e.count is not None and e.count > 1
        count = f" ×{printable(e.count)} in {printable(e.window_s)} s" if several else ""
        print(f"{printable(e.time)}  {printable(e.result):<18} {printable(e.operation):<24} "
              f"{peer}{printable(e.origin)}{count}{cert}{doc}")
    return 0


def _short(digest: object) -> str:
    return printable(str(digest)[:16])


def check(report: ChainReport, *, as_json: bool) -> int:
    broken = report.broken
    if as_json:
        print_json({"intact": report.intact, "lines": report.lines, "unchained": report.unchained,
                    "broken": None if broken is None else {"file": broken.file, "line": broken.line,
                                                           "reason": broken.reason}})
    elif broken is None:
        before = f"; {report.unchained} dòng trước khi có chuỗi / lines from before the chain" \
            if report.unchained else ""
        print(f"Nhật ký nguyên vẹn / intact: {report.lines} dòng / lines{before}")
    else:
        print(f"Nhật ký KHÔNG nguyên vẹn / the audit log is NOT intact: dòng hỏng đầu tiên / first broken line: "
              f"{printable(broken.file)} dòng / line {broken.line}: {REASONS[broken.reason]}")
    return 0 if broken is None else BROKEN
