"""Per-origin, per-certificate consent: asked, remembered, revocable, and not asked again
and again.

Scopes: ``sign`` covers documents the daemon parsed and hashed itself (PDF, batches, XML,
the ``Auth`` statement it writes) and seeing the official's tokens and certificates;
``raw`` covers signing bytes or a digest the page chose (``/v1/sign/cms``,
``/v1/sign/hash``, VGCA ``SignJson`` and ``SignMsg``), whose content no dialog can show.

A consent names the certificate it was given for (its SHA-256): a page allowed to sign with
one certificate is asked again before it signs with another. ``signer origins grant`` may
grant for any certificate (``*``), and so do the development origins of ``[consent]
pregranted``. Consents live in a JSON file in the user's state folder::

    {"https://qlvb.example.gov.vn:443": {"certificates": {"<sha256>": ["raw", "sign"], "*": ["sign"]},
                                         "granted_at": "..."}}

An entry written before consents named certificates (``{"scopes": [...]}``) covers no
certificate: the official is asked once more, and the answer replaces it. (A daemon of an
older version reads the new entries as covering nothing either.)

A first request asks the official (the companion's dialog, or the terminal under
``signer serve --interactive``): allow once, always (remembered for the certificate shown)
or refuse; an unanswered dialog refuses when the time runs out, and with nobody to ask the
request is refused at once (CONSENT_DENIED), before the token is touched. After a refused
dialog, the origin's requests that would ask again are refused without a dialog for a while
(CONSENT_BACKOFF), an interval that doubles with every refusal in a row.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from policies.origins import normalize_origin

from ..errors import Code, SignerError, os_reason_vi
from ..files import write_atomically
from .prompts import ALWAYS, ONCE, ConsentRequest, Prompts

SIGN, RAW = "sign", "raw"
SCOPES = (SIGN, RAW)
ANY = "*"  # a consent for every certificate (granted by IT staff, or pre-granted in development)
LEGACY = {"hash": RAW}  # the raw scope's former name


class ConsentStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SignerError(Code.CONFIG_INVALID, f"consent file {self.path}: {exc}",
                              vi=f"tệp lưu các lần đồng ý {self.path}: {exc}") from None
        return data if isinstance(data, dict) else {}

    def certificates(self, origin: str) -> dict[str, set[str]]:
        """The scopes granted to ``origin``, by certificate SHA-256 (or ``*``)."""
        entry = self.load().get(origin)
        granted = entry.get("certificates") if isinstance(entry, dict) else None
        if not isinstance(granted, dict):
            return {}
        return {str(cert): {LEGACY.get(s, s) for s in scopes if isinstance(s, str)}
                for cert, scopes in granted.items() if isinstance(scopes, list)}

    def granted(self, origin: str, scope: str, certificate: str | None = None) -> bool:
        """Whether ``origin`` may ``scope`` with ``certificate`` (None: with at least one)."""
        granted = self.certificates(origin)
        if certificate is None:
            return any(scope in scopes for scopes in granted.values())
        return scope in granted.get(ANY, set()) | granted.get(certificate, set())

    def grant(self, origin: str, scopes: Iterable[str], certificate: str = ANY) -> str:
        normalized = _origin(origin)
        certificate = _fingerprint(certificate)
        data = self.load()
        entry = data.get(normalized)
        certificates = entry.get("certificates") if isinstance(entry, dict) else None
        certificates = certificates if isinstance(certificates, dict) else {}
        current = certificates.get(certificate, [])
        certificates[certificate] = sorted(set(current) | {LEGACY.get(s, s) for s in scopes})
        data[normalized] = {"certificates": certificates,
                            "granted_at": datetime.now(UTC).isoformat(timespec="seconds")}
        self._save(data)
        return normalized

    def revoke(self, origin: str) -> bool:
        normalized = _origin(origin)
        data = self.load()
        removed = data.pop(normalized, None) is not None
        if removed:
            self._save(data)
        return removed

    def described(self, origin: str) -> list[str]:
        """What ``origin`` was granted, one phrase per certificate, for listings."""
        entry = self.load().get(origin)
        if not isinstance(entry, dict):
            return []
        phrases = [f"{', '.join(sorted(scopes))} @ {_shown(cert)}"
                   for cert, scopes in sorted(self.certificates(origin).items()) if scopes]
        legacy = entry.get("scopes")
        if "certificates" not in entry and isinstance(legacy, list) and legacy:
            phrases.append(f"{', '.join(sorted(str(s) for s in legacy))} @ (cũ, sẽ hỏi lại / old, asked again)")
        return phrases

    def _save(self, data: dict[str, dict]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise SignerError(Code.CONFIG_INVALID, f"{self.path.parent}: {exc.strerror or exc}",
                              vi=f"{self.path.parent}: {os_reason_vi(exc)}") from None
        write_atomically(self.path, json.dumps(data, ensure_ascii=False, indent=2).encode(), mode=0o600,
                         error_code=Code.CONFIG_INVALID)


@dataclass
class Backoff:
    """After a refused dialog an origin is not asked again for ``first_s``, doubling with each
    refusal in a row up to ``max_s``; an allowed dialog, or a long quiet spell, starts over."""

    first_s: float
    max_s: float
    clock: Callable[[], float] = time.monotonic
    _state: dict[str, tuple[float, float]] = field(default_factory=dict)  # origin: (until, interval)

    def remaining_s(self, origin: str) -> float:
        until, _ = self._state.get(origin, (0.0, 0.0))
        return max(0.0, until - self.clock())

    def refused(self, origin: str) -> None:
        now = self.clock()
        until, interval = self._state.get(origin, (0.0, 0.0))
        quiet = now - until > self.max_s
        interval = self.first_s if quiet or not interval else min(self.max_s, interval * 2)
        self._state[origin] = (now + interval, interval)

    def allowed(self, origin: str) -> None:
        self._state.pop(origin, None)


class ConsentBroker:
    """Answers 'may this origin do this with this certificate?' for the request handlers:
    pre-granted or remembered, else the official is asked (one question per origin at a
    time; a second is BUSY; after a refusal, CONSENT_BACKOFF for a while)."""

    def __init__(self, store: ConsentStore, pregranted: Iterable[str], prompts: Prompts, backoff: Backoff) -> None:
        self.store = store
        self.pregranted = {_origin(o) for o in pregranted}
        self.prompts = prompts
        self.backoff = backoff
        self._pending: set[str] = set()

    def granted(self, origin: str, scope: str, certificate: str | None) -> bool:
        """``certificate`` None: granted for at least one certificate."""
        origin = _origin(origin)
        return origin in self.pregranted or self.store.granted(origin, scope, certificate)

    def check(self, origin: str, scope: str) -> None:
        """Before the token is read: refuse now what no certificate's consent could let through
        (in back-off, a question already open, nobody to ask)."""
        origin = _origin(origin)
        if not self.granted(origin, scope, None):
            self._may_ask(origin)

    async def require(self, origin: str, scope: str, certificate: str | None,
                      describe: Callable[[], Awaitable[ConsentRequest]] | None = None) -> None:
        """``describe`` builds what the dialog shows (documents, certificate, preview); it is
        only called when the official is actually asked. "Always" is remembered for the
        certificate the dialog showed."""
        origin = _origin(origin)
        if self.granted(origin, scope, certificate):
            return
        self._may_ask(origin)
        self._pending.add(origin)
        try:
            request = await describe() if describe else ConsentRequest(origin=origin, scope=scope, operation=scope)
            decision = await self.prompts.consent(replace(request, origin=origin, scope=scope))
        finally:
            self._pending.discard(origin)
        if decision not in (ONCE, ALWAYS):
            self.backoff.refused(origin)
            raise SignerError(Code.CONSENT_DENIED, f"{origin} ({scope}): refused", vi=f"{origin} ({scope}): bị từ chối")
        self.backoff.allowed(origin)
        shown = request.certificate.sha256 if request.certificate else certificate
        if decision == ALWAYS and shown:
            self.store.grant(origin, [scope], shown)

    def _may_ask(self, origin: str) -> None:
        remaining = self.backoff.remaining_s(origin)
        if remaining > 0:
            seconds = math.ceil(remaining)
            raise SignerError(Code.CONSENT_BACKOFF, f"{seconds} s", retry_after_s=seconds, vi=f"{seconds} giây")
        if origin in self._pending:
            raise SignerError(Code.BUSY, "a consent request of this website is already waiting",
                              vi="đang có một yêu cầu đồng ý của trang web này chờ trả lời")
        if not self.prompts.can_ask:
            raise SignerError(Code.CONSENT_DENIED, "no desktop companion is running to ask the official "
                                                   "(start `signer tray`, or `signer origins grant`)",
                              vi=("không có ứng dụng khay đang chạy để hỏi người dùng "
                                  "(hãy chạy `signer tray`, hoặc `signer origins grant`)"))


def _origin(origin: str) -> str:
    normalized = normalize_origin(origin)
    if normalized is None:
        raise SignerError(Code.BAD_REQUEST, f"not a web origin: {origin}", vi=f"không phải địa chỉ trang web: {origin}")
    return normalized


def _fingerprint(certificate: str) -> str:
    if certificate == ANY:
        return ANY
    hexed = certificate.replace(":", "").strip().lower()
    if len(hexed) != 64 or any(c not in "0123456789abcdef" for c in hexed):
        raise SignerError(Code.BAD_REQUEST, f"not a certificate's SHA-256 fingerprint: {certificate}",
                          vi=f"không phải dấu vân tay SHA-256 của chứng thư số: {certificate}")
    return hexed


def _shown(certificate: str) -> str:
    return "mọi chứng thư / any certificate" if certificate == ANY else certificate
