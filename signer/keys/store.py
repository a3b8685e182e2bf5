"""The signer's view of all tokens: which certificates exist, and the key to sign with.

Loads every PKCS#11 module found (configured first, then the catalogue's), lists
tokens and certificates across them, resolves ``--cert LABEL|ID`` and returns a
``TokenKey`` that carries the certificate, its chain and the way to the token. The credentials
of remote signing services (``[[remote]]``) are listed beside them, each service as a token of
its own ("csc:<name>"), and signed with through a ``RemoteKey``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import x509

from drivers.errors import TokenError
from drivers.modules import discover_modules
from drivers.pins import PinSource
from drivers.tokeninfo import KeyRef, TokenInfo
from drivers.tokens import Pkcs11Module, open_module, release_module

from ..certificates import Trust, build_chain, holder_name, is_ca
from ..config import Settings
from ..errors import Code, SignerError
from ..logs import get_logger
from .pins import pin_source_from
from .remote import Authoriser, RemoteCredential, RemoteCredentials, RemoteKey, credential_id, disabled, token_of
from .token import TokenKey, driver_call, key_error

Key = TokenKey | RemoteKey  # what the signing service signs with

log = get_logger(__name__)


@dataclass(frozen=True)
class CertificateEntry:
    """A signing certificate found on a token."""

    id: str  # first 16 hex digits of the SHA-256 fingerprint: stable across tokens and runs
    label: str
    key_id: str
    token: TokenInfo
    certificate: x509.Certificate

    @property
    def subject(self) -> str:
        return self.certificate.subject.human_friendly

    @property
    def common_name(self) -> str:
        return holder_name(self.certificate) or self.subject

    @property
    def issuer(self) -> str:
        return self.certificate.issuer.human_friendly

    @property
    def serial(self) -> str:
        return format(self.certificate.serial_number, "x")

    @property
    def not_before(self) -> datetime:
        return self.certificate.not_valid_before

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after

    @property
    def key_usage(self) -> tuple[str, ...]:
        return tuple(sorted(self.certificate.key_usage_value.native)) if self.certificate.key_usage_value else ()

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "key_id": self.key_id,
            "subject": self.subject,
            "common_name": self.common_name,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "status": self.status(),
            "key_usage": list(self.key_usage),
            "token": {"label": self.token.label, "serial": self.token.serial},
        }

    def status(self, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        if now < self.not_before:
            return "not_yet_valid"
        if now > self.not_after:
            return "expired"
        return "valid"


class KeyStore:
    """Every PKCS#11 module found (configured first, then the catalogue's), the tokens and
    certificates across them, and the key for ``--cert LABEL|ID`` with its chain."""

    def __init__(self, settings: Settings, pins: PinSource | None = None, trust: Trust = Trust(),
                 authoriser: Authoriser | None = None) -> None:
        """``authoriser``: who authorises a remote credential that asks for a PIN or one-time code."""
        self.settings = settings
        self.pins = pins or pin_source_from(settings)
        self.authoriser = authoriser
        self.modules: list[Pkcs11Module] = []
        self._certificates_seen: tuple[tuple, list[CertificateEntry]] | None = None
        self._trust_certificates = [*trust.intermediates, *trust.anchors]  # for chains beyond the token's
        self.remote = RemoteCredentials(settings.remote)
        try:
            candidates = discover_modules(settings.tokens.modules, use_catalog=settings.tokens.use_catalog)
        except TokenError as exc:
            raise key_error(exc) from None
        for candidate in candidates:
            try:
                self.modules.append(open_module(candidate.path))
            except TokenError as exc:
                if candidate.source == "configured":
                    self.close()
                    raise key_error(exc) from None
                log.warning("module_skipped", path=str(candidate.path), reason=exc.detail)
        if not self.modules and not settings.remote:
            raise SignerError(Code.MODULE_NOT_FOUND,
                              "install the token's driver or set [tokens] modules in the configuration",
                              vi="hãy cài trình điều khiển (driver) của token hoặc khai báo [tokens] modules "
                                 "trong cấu hình")

    def close(self) -> None:
        for module in self.modules:
            release_module(module)
        self.modules.clear()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def alogout(self, serial: str | None = None, *, keep: Collection[str] = ()) -> None:
        """Log out one token (``serial``) or every token but ``keep``, each on its module's worker."""
        for module in self.modules:
            await module.alogout(serial, keep=keep)

    def tokens(self) -> list[TokenInfo]:
        return [token for module in self.modules for token in driver_call(module.tokens)]

    def token_certificates(self) -> list[CertificateEntry]:
        """Signing (end-entity) certificates on all tokens. Blocking: call it off the event loop."""
        return [entry for entry in self._all_certificates() if not is_ca(entry.certificate)]

    async def certificates(self) -> list[CertificateEntry]:
        """The tokens' signing certificates, then the remote services' (a service that does not
        answer is left out: ``signing_key`` reports it; so is a disabled credential, which
        ``signing_key`` refuses by name)."""
        tokens = await asyncio.to_thread(self.token_certificates)
        return tokens + [entry for entry, c in (await self._remote())[0] if c.credential.enabled]

    def token_key(self, selector: str | None = None) -> TokenKey:
        """The key on a token for ``selector`` (label, key id or id prefix; None: the configured
        default), remote services left out. Blocking: call it off the event loop."""
        key = self._rescanned(self._signing_key, selector, [], [])
        assert isinstance(key, TokenKey)  # no remote credential was offered
        return key

    async def signing_key(self, selector: str | None = None) -> Key:
        """The key for ``selector`` among the tokens' and the remote services' certificates."""
        remote, failed = await self._remote()
        return await asyncio.to_thread(self._rescanned, self._signing_key, selector, remote, failed)

    def _rescanned(self, find: Callable[..., Key], *args: Any) -> Key:
        try:
            return find(*args)
        except SignerError as error:
            if error.code not in (Code.TOKEN_NOT_PRESENT, Code.CERT_NOT_FOUND):
                raise
        for module in self.modules:  # a module may have missed the token being plugged back in
            driver_call(module.rescan)
        return find(*args)

    def _signing_key(self, selector: str | None, remote: list[tuple[CertificateEntry, RemoteCredential]],
                     failed: list[SignerError]) -> Key:
        selector = selector or self.settings.tokens.default_certificate
        entries = self.token_certificates() + [e for e, _ in remote]
        if not entries and failed:
            raise failed[0]
        if not entries:
            if not any(t.flags.initialized for t in self.tokens()):
                raise SignerError(Code.TOKEN_NOT_PRESENT, "plug in the USB token and try again",
                                  vi="hãy cắm USB token vào máy rồi thử lại")
            raise SignerError(Code.CERT_NOT_FOUND, "the connected tokens hold no signing certificate",
                              vi="các token đang cắm không chứa chứng thư số nào dùng để ký")
        try:
            entry = _select(entries, selector)
        except SignerError as error:
            if error.code is not Code.CERT_NOT_FOUND or not failed:
                raise
            raise failed[0] from None  # it may be the service's that did not answer
        credential = next((c for e, c in remote if e is entry), None)
        if credential is not None and not credential.credential.enabled:  # said before its certificate is checked
            raise disabled(credential.service.name, credential.credential.id)
        if credential is not None:
            chain = build_chain(entry.certificate, [*credential.chain, *self._trust_certificates])
            return RemoteKey(certificate=entry.certificate, chain=chain, service=credential.service,
                             credential=credential.credential, authoriser=self.authoriser)
        module = next(m for m in self.modules if str(m.path) == entry.token.module)
        pool = [e.certificate for e in self._all_certificates() if is_ca(e.certificate)]
        pool += self._trust_certificates
        return TokenKey(
            certificate=entry.certificate,
            chain=build_chain(entry.certificate, pool),
            ref=KeyRef(
                module=entry.token.module,
                token_serial=entry.token.serial,
                key_id=bytes.fromhex(entry.key_id),
                label=entry.label,
            ),
            module=module,
            pins=self.pins,
        )

    async def _remote(self) -> tuple[list[tuple[CertificateEntry, RemoteCredential]], list[SignerError]]:
        """The remote services' signing credentials (a CA's are not), each as the entry of its
        service's token, and the errors of the services that did not list theirs."""
        credentials, failed = await self.remote.read()
        return [(CertificateEntry(id=credential_id(c), label=c.credential.id, key_id="", token=token_of(c.service),
                                  certificate=c.certificate), c)
                for c in credentials if not is_ca(c.certificate)], failed

    def _all_certificates(self) -> list[CertificateEntry]:
        """All certificates on the present tokens; re-read only when the set of tokens changes."""
        present = tuple((t.module, t.slot_id, t.serial, t.label) for t in self.tokens())
        if self._certificates_seen is None or self._certificates_seen[0] != present:
            self._certificates_seen = (present, self._read_certificates())
        return self._certificates_seen[1]

    def _read_certificates(self) -> list[CertificateEntry]:
        entries = []
        for module in self.modules:
            for obj in driver_call(module.certificates):
                try:
                    cert = x509.Certificate.load(obj.der)
                    _ = cert.native  # parse fully now: a broken certificate is skipped, not fatal later
                except ValueError:
                    log.warning("certificate_unreadable", token=obj.token.label, label=obj.label)
                    continue
                entries.append(
                    CertificateEntry(
                        id=hashlib.sha256(obj.der).hexdigest()[:16],
                        label=obj.label,
                        key_id=obj.key_id.hex(),
                        token=obj.token,
                        certificate=cert,
                    )
                )
        return entries


def _select(entries: list[CertificateEntry], selector: str | None) -> CertificateEntry:
    if selector is None:
        if len(entries) == 1:
            return entries[0]
        labels = ", ".join(sorted({e.label for e in entries}))
        raise SignerError(Code.CERT_AMBIGUOUS, f"choose one with --cert (labels: {labels})",
                          vi=f"hãy chọn một chứng thư số bằng --cert (các nhãn: {labels})")
    wanted = selector.lower()
    matches = [
        e for e in entries
        if e.label == selector or e.key_id == wanted or (len(wanted) >= 8 and e.id.startswith(wanted))
    ]
    if not matches:
        labels = ", ".join(sorted({e.label for e in entries}))
        raise SignerError(Code.CERT_NOT_FOUND, f"no certificate with label or id '{selector}' (labels: {labels})",
                          vi=f"không có chứng thư số mang nhãn hoặc mã định danh '{selector}' "
                             f"(các nhãn hiện có: {labels})")
    if len(matches) > 1:
        found = ", ".join(f"{e.id} ({e.token.label})" for e in matches)
        raise SignerError(Code.CERT_AMBIGUOUS, f"'{selector}' matches {found}", vi=f"'{selector}' trùng với {found}")
    return matches[0]
