"""The audit trail: append-only JSON lines, separate from debug logs.

One line per request: time, origin, operation, certificate fingerprint, document SHA-256 and
size, result code, for a browser's signature how it was confirmed, and ``prev``, which chains
the lines (``audit_chain``); refused requests are counted rather than written one by one
(``signer.service.trail.Refusals``). Never a PIN, never document content.

The daemon and the commands run beside it write the same trail: a line is computed and
appended under one lock file (``audit.lock``, never renamed) that every process takes, and
written with one ``write`` on an ``O_APPEND`` descriptor. With a retention policy the file
rotates before it would pass the size limit (``audit.jsonl`` becomes ``audit.1.jsonl``, the
older ones move up, beyond the kept number they are deleted); the hash of the last line
retention deleted stays in ``audit.anchor``, so the oldest kept line is still checked.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from .audit_chain import GENESIS, ChainReport, check, last_line, line_hash, lines_of
from .errors import Code, SignerError, os_reason_vi
from .files import write_atomically
from .locks import exclusive


@dataclass(frozen=True)
class AuditEntry:
    time: str
    origin: str  # an Origin as sent (allowed ones normalised), or a word of service.caller
    operation: str
    result: str  # "OK" or an error code
    certificate_sha256: str | None = None
    document_sha256: str | None = None
    document_size: int | None = None
    # a browser's signature: "confirmed" (the official said yes in a dialog), "exempt" (the
    # origin is configured as unattended) or "refused"; None for anything else
    confirmation: str | None = None
    # a PDF signature's block: {"page": from 1, "rect": [x1, y1, x2, y2] in points as the page is
    # shown, "placed_by": "anchor", "rect", "official", ...}; None for an invisible signature and the rest
    placement: dict | None = None
    # a damaged document signed in its lossless rewrite: True, and the rewrite's SHA-256
    # (document_sha256 and document_size stay the input's); None for anything else
    repaired: bool | None = None
    repaired_sha256: str | None = None
    # a refused request (``signer.service.trail.Refusals``): ``peer`` names the other end when no
    # Origin did; ``count`` is how many refusals of its origin and code the line stands for, over
    # the ``window_s`` seconds since the first (operation "refused" when they were for several)
    peer: str | None = None
    count: int | None = None
    window_s: float | None = None
    # a token plugged in or pulled out (operation "token.arrived" / "token.left"): what the
    # watchers saw of it (model, reader, USB id, ATR, label); None for anything else
    device: dict | None = None
    # a signature by a remote signing service's key ([[remote]]): the service's name; None for a token's
    remote: str | None = None
    prev: str | None = None  # SHA-256 of the line before; None in lines from before the chain

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.time)


FIELDS = frozenset(f.name for f in fields(AuditEntry))
# written only when set: every other line keeps its size and shape
SPARSE = ("repaired", "repaired_sha256", "device", "remote")


def _written(entry: AuditEntry) -> dict:
    line = asdict(entry)
    for name in SPARSE:
        if line[name] is None:
            del line[name]
    return line


@dataclass(frozen=True)
class Retention:
    max_bytes: int  # a file is rotated before a line would take it past this size
    keep_files: int  # rotated files kept besides the current one


class AuditLog:
    def __init__(self, path: Path, retention: Retention | None = None) -> None:
        """``retention`` None: the file is never rotated (a reader)."""
        self.path = path
        self.retention = retention
        self._lock = threading.Lock()  # threads of this process queue here, not on the file lock
        self._rotated = re.compile(re.escape(path.stem) + r"\.(\d+)" + re.escape(path.suffix))

    @property
    def anchor(self) -> Path:
        return self.path.with_suffix(".anchor")

    def rotated(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.stem}.{number}{self.path.suffix}")

    def files(self) -> list[Path]:
        """The trail's files, oldest first, the current one last (if it exists)."""
        numbers = sorted((int(m.group(1)) for p in self.path.parent.glob(f"{self.path.stem}.*{self.path.suffix}")
                          if (m := self._rotated.fullmatch(p.name))), reverse=True)
        current = [self.path] if self.path.exists() else []
        return [self.rotated(n) for n in numbers] + current

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
        placement: dict | None = None,
        repaired_sha256: str | None = None,
        peer: str | None = None,
        count: int | None = None,
        window_s: float | None = None,
        device: dict | None = None,
        remote: str | None = None,
    ) -> AuditEntry:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with exclusive(self._lock_path):
                last = last_line(self.path)  # empty or missing: a new trail (or lines lost, which check shows)
                entry = AuditEntry(
                    time=datetime.now(UTC).isoformat(timespec="milliseconds"),
                    origin=origin,
                    operation=operation,
                    result=result,
                    certificate_sha256=certificate_sha256,
                    document_sha256=document_sha256,
                    document_size=document_size,
                    confirmation=confirmation,
                    placement=placement,
                    repaired=True if repaired_sha256 else None,
                    repaired_sha256=repaired_sha256,
                    peer=peer,
                    count=count,
                    window_s=window_s,
                    device=device,
                    remote=remote,
                    prev=line_hash(last[0]) if last else GENESIS,
                )
                line = (json.dumps(_written(entry), ensure_ascii=False) + "\n").encode("utf-8")
                if last and self._full(len(line)):
                    self._rotate()
                elif last and not last[1]:
                    line = b"\n" + line  # a line cut short (a full disk) stays one line of its own
                # O_APPEND and one write per line: lines never interleave or get cut
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
        return entry

    def read(self, since: datetime | None = None) -> list[AuditEntry]:
        """Every readable line of every file, oldest first."""
        entries = [entry for raw in self._lines(self.files) if (entry := _entry(raw))]
        return [e for e in entries if since is None or _after(e, since)]

    def recent(self, count: int) -> list[AuditEntry]:
        """The last ``count`` readable lines, oldest first, reading only the newest files needed."""
        def newest_files() -> list[Path]:
            files: list[Path] = []
            lines = 0
            for path in reversed(self.files()):
                files.insert(0, path)
                lines += path.read_bytes().count(b"\n")
                if lines >= count:
                    break
            return files
        entries = [entry for raw in self._lines(newest_files) if (entry := _entry(raw))]
        return entries[-count:]

    def check(self) -> ChainReport:
        if not self.path.parent.is_dir():
            return check([])
        with self._lock, exclusive(self._lock_path):
            try:
                start = self.anchor.read_text("ascii").strip() if self.anchor.exists() else GENESIS
                return check(self.files(), start)
            except OSError as exc:
                raise SignerError(Code.FILE_UNREADABLE, f"{self.path}: {exc.strerror or exc}",
                                  vi=f"{self.path}: {os_reason_vi(exc)}") from None

    @property
    def _lock_path(self) -> Path:
        return self.path.with_suffix(".lock")

    def _lines(self, files: Callable[[], list[Path]]) -> list[bytes]:
        if not self.path.parent.is_dir():
            return []
        with self._lock, exclusive(self._lock_path):  # no rotation while the files are read
            try:
                return [raw for path in files() for raw in lines_of(path.read_bytes())]
            except OSError as exc:
                raise SignerError(Code.FILE_UNREADABLE, f"{self.path}: {exc.strerror or exc}",
                                  vi=f"{self.path}: {os_reason_vi(exc)}") from None

    def _full(self, adding: int) -> bool:
        if self.retention is None:
            return False
        try:
            return os.stat(self.path).st_size + adding > self.retention.max_bytes
        except FileNotFoundError:
            return False

    def _rotate(self) -> None:
        assert self.retention is not None
        keep = self.retention.keep_files
        dropped = sorted((p for p in self.files() if p != self.path and self._number(p) >= keep),
                         key=self._number)
        if dropped:
            last = last_line(dropped[0])  # the newest of them, next to the kept chain
            if last:
                write_atomically(self.anchor, (line_hash(last[0]) + "\n").encode(), mode=0o600)
            for path in dropped:
                path.unlink()
        for number in range(keep - 1, 0, -1):
            if self.rotated(number).exists():
                os.replace(self.rotated(number), self.rotated(number + 1))
        os.replace(self.path, self.rotated(1))

    def _number(self, path: Path) -> int:
        match = self._rotated.fullmatch(path.name)
        return int(match.group(1)) if match else 0


def _entry(raw: bytes) -> AuditEntry | None:
    """A line as an entry (fields of later versions left out); None for a damaged line, which
    does not hide the others (``check`` names it)."""
    try:
        values = json.loads(raw)
        entry = AuditEntry(**{k: v for k, v in values.items() if k in FIELDS})
        datetime.fromisoformat(entry.time)  # a line whose time does not read is damaged too
    except (ValueError, TypeError, AttributeError):
        return None
    return entry


def _after(entry: AuditEntry, since: datetime) -> bool:
    try:
        return entry.when >= since
    except TypeError:  # a time without a zone, compared with one that has it
        return False
