"""The audit trail: append-only JSON lines, separate from debug logs.

One line per request: time, origin, operation, certificate fingerprint, document
SHA-256 and size, result code, and for a browser's signature how it was confirmed. Never a PIN, never document content.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from .errors import Code, SignerError


@dataclass(frozen=True)
class AuditEntry:
    time: str
    origin: str
    operation: str
    result: str  # "OK" or an error code
    certificate_sha256: str | None = None
    document_sha256: str | None = None
    document_size: int | None = None
    # a browser's signature: "confirmed" (the official said yes in a dialog), "exempt" (the
    # origin is configured as unattended) or "refused"; None for anything else
    confirmation: str | None = None

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.time)


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(
        self,
        *,
        origin: str,
        operation: str,
        result: str,
        certificate_sha256: str | None = None,
        document_sha256: str | None = None,
        document_size: int | None = None,
        confirmation: str | None = None,
    ) -> AuditEntry:
        entry = AuditEntry(
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            origin=origin,
            operation=operation,
            result=result,
            certificate_sha256=certificate_sha256,
            document_sha256=document_sha256,
            document_size=document_size,
            confirmation=confirmation,
        )
        line = (json.dumps(asdict(entry), ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # O_APPEND and one write per line: lines never interleave or get cut
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return entry

    def read(self, since: datetime | None = None) -> list[AuditEntry]:
        try:
            lines = self.path.read_text("utf-8").splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise SignerError(Code.FILE_UNREADABLE, f"{self.path}: {exc.strerror or exc}") from None
        entries = []
        for line in lines:
            try:
                entry = AuditEntry(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a damaged line does not hide the others
            if since is None or entry.when >= since:
                entries.append(entry)
        return entries
