"""Per-origin consent: asked once, remembered, revocable.

Scopes: ``sign`` (documents the daemon hashes itself) and ``hash`` (signing a
bare digest for a page: a separate, explicit consent). Consents live in a JSON
file in the user's state folder; ``signer origins grant/revoke/list`` edit it.
A first request waits, with at most one pending consent per origin, until the
origin is granted (the tray's dialog, or ``signer origins grant``) or the time
runs out (CONSENT_DENIED).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from policies.origins import normalize_origin

from ..errors import SignerError
from ..files import write_atomically

SCOPES = ("sign", "hash")
POLL_INTERVAL_S = 0.25


class ConsentStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SignerError("CONFIG_INVALID", f"consent file {self.path}: {exc}") from None
        return data if isinstance(data, dict) else {}

    def granted(self, origin: str, scope: str) -> bool:
        entry = self.load().get(origin)
        return bool(entry) and scope in entry.get("scopes", [])

    def grant(self, origin: str, scopes: Iterable[str]) -> str:
        normalized = _origin(origin)
        data = self.load()
        entry = data.setdefault(normalized, {"scopes": []})
        entry["scopes"] = sorted(set(entry["scopes"]) | set(scopes))
        entry["granted_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._save(data)
        return normalized

    def revoke(self, origin: str) -> bool:
        normalized = _origin(origin)
        data = self.load()
        removed = data.pop(normalized, None) is not None
        if removed:
            self._save(data)
        return removed

    def _save(self, data: dict[str, dict]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise SignerError("CONFIG_INVALID", f"{self.path.parent}: {exc.strerror or exc}") from None
        write_atomically(self.path, json.dumps(data, ensure_ascii=False, indent=2).encode(), mode=0o600,
                         error_code="CONFIG_INVALID")


class ConsentBroker:
    """Answers 'may this origin do this?' for the request handlers."""

    def __init__(self, store: ConsentStore, pregranted: Iterable[str], timeout_s: float) -> None:
        self.store = store
        self.pregranted = {_origin(o) for o in pregranted}
        self.timeout_s = timeout_s
        self._pending: set[str] = set()

    async def require(self, origin: str, scope: str) -> None:
        origin = _origin(origin)
        if origin in self.pregranted or self.store.granted(origin, scope):
            return
        if origin in self._pending:
            raise SignerError("BUSY", "a consent request of this website is already waiting")
        self._pending.add(origin)
        try:
            deadline = time.monotonic() + self.timeout_s
            while time.monotonic() < deadline:
                await asyncio.sleep(POLL_INTERVAL_S)
                if self.store.granted(origin, scope):
                    return
            raise SignerError("CONSENT_DENIED", f"{origin} ({scope}): no consent given in time")
        finally:
            self._pending.discard(origin)


def _origin(origin: str) -> str:
    normalized = normalize_origin(origin)
    if normalized is None:
        raise SignerError("BAD_REQUEST", f"not a web origin: {origin}")
    return normalized
