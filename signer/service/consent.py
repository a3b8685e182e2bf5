"""Per-origin consent: asked once, remembered, revocable.

Scopes: ``sign`` (documents the daemon hashes itself) and ``hash`` (signing a
bare digest for a page: a separate, explicit consent). Consents live in a JSON
file in the user's state folder; ``signer origins grant/revoke/list`` edit it.
A first request asks the official (the companion's dialog, or the terminal under
``signer serve --interactive``): allow once, always (remembered) or refuse; an
unanswered dialog refuses when the time runs out, and with nobody to ask the
request is refused at once (CONSENT_DENIED).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from policies.origins import normalize_origin

from ..errors import Code, SignerError
from ..files import write_atomically
from .prompts import ALWAYS, ONCE, ConsentRequest, Prompts


class ConsentStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SignerError(Code.CONFIG_INVALID, f"consent file {self.path}: {exc}") from None
        return data if isinstance(data, dict) else {}

    def granted(self, origin: str, scope: str) -> bool:
        entry = self.load().get(origin) or {}
        return scope in entry.get("scopes", [])

    def grant(self, origin: str, scopes: Iterable[str]) -> str:
        normalized = _origin(origin)
        data = self.load()
        entry = data.setdefault(normalized, {"scopes": []})
        entry["scopes"] = sorted(set(entry["scopes"]) | set(scopes))
        entry["granted_at"] = datetime.now(UTC).isoformat(timespec="seconds")
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
            raise SignerError(Code.CONFIG_INVALID, f"{self.path.parent}: {exc.strerror or exc}") from None
        write_atomically(self.path, json.dumps(data, ensure_ascii=False, indent=2).encode(), mode=0o600,
                         error_code=Code.CONFIG_INVALID)


class ConsentBroker:
    """Answers 'may this origin do this?' for the request handlers: pre-granted or remembered,
    else the official is asked (one question per origin at a time; a second is BUSY)."""

    def __init__(self, store: ConsentStore, pregranted: Iterable[str], prompts: Prompts) -> None:
        self.store = store
        self.pregranted = {_origin(o) for o in pregranted}
        self.prompts = prompts
        self._pending: set[str] = set()

    def granted(self, origin: str, scope: str) -> bool:
        origin = _origin(origin)
        return origin in self.pregranted or self.store.granted(origin, scope)

    async def require(self, origin: str, scope: str,
                      describe: Callable[[], Awaitable[ConsentRequest]] | None = None) -> None:
        """``describe`` builds what the dialog shows (documents, certificate, preview); it is
        only called when the official is actually asked."""
        origin = _origin(origin)
        if self.granted(origin, scope):
            return
        if origin in self._pending:
            raise SignerError(Code.BUSY, "a consent request of this website is already waiting")
        self._pending.add(origin)
        try:
            request = await describe() if describe else ConsentRequest(origin=origin, scope=scope, operation=scope)
            decision = await self.prompts.consent(replace(request, origin=origin, scope=scope))
        finally:
            self._pending.discard(origin)
        if decision == ALWAYS:
            self.store.grant(origin, [scope])
        elif decision != ONCE:
            raise SignerError(Code.CONSENT_DENIED, f"{origin} ({scope}): refused")


def _origin(origin: str) -> str:
    normalized = normalize_origin(origin)
    if normalized is None:
        raise SignerError(Code.BAD_REQUEST, f"not a web origin: {origin}")
    return normalized
