"""The access and refresh tokens of remote signing services, kept per user in one JSON file
readable by its owner only (0600), replaced whole (a temporary file, then a rename) so that a
reader never sees half of it. Changes are made under a lock file, so the daemon and a command
renewing tokens at once do not lose each other's entries.

An entry is kept for a service name and URL together: a service moved to another URL gets no
token meant for the old one.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FILE_MODE = 0o600


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_at: float  # seconds since the epoch
    refresh_token: str | None = None
    url: str = ""  # the service's URL they were issued for

    def fresh(self, margin_s: float, now: float | None = None) -> bool:
        """Whether the access token is still good ``margin_s`` seconds from now."""
        return (time.time() if now is None else now) + margin_s < self.expires_at

    def __repr__(self) -> str:  # the tokens never land in a log line or an exception
        return f"Tokens(expires_at={self.expires_at:.0f}, refresh={self.refresh_token is not None}, url={self.url!r})"


@dataclass(frozen=True)
class TokenStore:
    path: Path

    def load(self, service: str, url: str) -> Tokens | None:
        entry = self._read().get(service)
        if not isinstance(entry, dict) or entry.get("url") != url:
            return None
        try:
            return Tokens(access_token=str(entry["access_token"]), expires_at=float(entry["expires_at"]),
                          refresh_token=str(entry["refresh_token"]) if entry.get("refresh_token") else None,
                          url=url)
        except (KeyError, TypeError, ValueError):
            return None

    def save(self, service: str, tokens: Tokens) -> None:
        with self._changing():
            entries = self._read()
            entries[service] = asdict(tokens)
            self._write(entries)

    def forget(self, service: str) -> bool:
        """Drop the service's tokens; whether there were any."""
        with self._changing():
            entries = self._read()
            if entries.pop(service, None) is None:
                return False
            self._write(entries)
            return True

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Held while the file is read, changed and replaced: one process at a time."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            if sys.platform == "win32":
                import msvcrt
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
            else:
                import fcntl
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield  # the lock goes with the descriptor
        finally:
            os.close(fd)

    def _read(self) -> dict[str, Any]:
        try:
            entries = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable or damaged: as if signed in nowhere (the next sign-in rewrites it)
        return entries if isinstance(entries, dict) else {}

    def _write(self, entries: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp: 0600 from the start
                json.dump(entries, out)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, FILE_MODE)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
