"""Keys held by a remote signing service (``[[remote]]``, CSC API v1 or v2): its credentials listed
as certificates of a token of their own, "csc:<name>", and a ``RemoteKey`` that signs through it
(its signatures gathered into few calls: ``remote_signing``).

The service's failures become the signer's errors here, naming the service: no answer is
REMOTE_UNREACHABLE; a sign-in refused even once renewed REMOTE_LOGIN_REQUIRED; a wrong PIN or
one-time code REMOTE_AUTHORISATION_INCORRECT (never retried: a service may lock the credential);
a disabled credential REMOTE_CREDENTIAL_DISABLED; any other error answer REMOTE_SERVICE_ERROR.

A credential whose authorisation mode is explicit is authorised with its PIN and/or one-time
code, asked of the official by the ``Authoriser`` (the companion's dialog, or a command's
terminal): never of the page, and kept only while the signatures they authorise are made.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from asn1crypto import x509

from drivers.csc import AuthInput, Credential, CscClient, RemoteError, RemoteErrorKind, open_client
from drivers.tokeninfo import TokenFlags, TokenInfo

from ..certificates import holder_name
from ..config import RemoteSettings
from ..errors import Code, SignerError
from ..logs import get_logger
from .certified import CertificateFacts
from .remote_auth import authenticator, endpoint
from .remote_signing import Gathering

log = get_logger(__name__)

T = TypeVar("T")
PREFIX = "csc:"  # the token label and queue of a service's credentials
FRESH_S = 60.0  # how long a service's credential list is reused before it is read again
RETRY_S = 10.0  # how long a service that failed is not asked again (a token's signature need not wait on it)
IMPLICIT, EXPLICIT = "implicit", "explicit"  # authMode: nothing asked, or the PIN and/or OTP asked of the official

# A service's credentials look like an initialised token that needs no login from us.
REMOTE_FLAGS = TokenFlags(login_required=False, protected_authentication_path=False, pin_count_low=False,
                          pin_final_try=False, pin_locked=False, initialized=True)


ERRORS = {  # the kind of a service's failure -> the signer's code, and what it is in Vietnamese
    RemoteErrorKind.UNREACHABLE: (Code.REMOTE_UNREACHABLE, "không có trả lời"),
    RemoteErrorKind.LOGIN_REQUIRED: (Code.REMOTE_LOGIN_REQUIRED, "phiên đăng nhập hết hạn hoặc bị từ chối"),
    RemoteErrorKind.AUTHORISATION_INCORRECT: (Code.REMOTE_AUTHORISATION_INCORRECT, "mã PIN hoặc mã OTP không đúng"),
    RemoteErrorKind.CREDENTIAL_DISABLED: (Code.REMOTE_CREDENTIAL_DISABLED, "chứng thư đã bị vô hiệu hóa"),
    RemoteErrorKind.REFUSED: (Code.REMOTE_SERVICE_ERROR, "trả lời có lỗi"),
}


def remote_error(service: str, exc: RemoteError) -> SignerError:
    code, vi = ERRORS[exc.kind]
    return SignerError(code, f"{service}: {exc.detail}", vi=f"{service}: {vi} ({exc.detail})")


def client(service: RemoteSettings) -> AbstractAsyncContextManager[CscClient]:
    """A client of ``service`` with a session of its own (closed on leaving)."""
    return open_client(endpoint(service), authenticator(service))


def disabled(service: str, credential: str) -> SignerError:
    return SignerError(Code.REMOTE_CREDENTIAL_DISABLED, f"{service}: {credential}",
                       vi=f"{service}: chứng thư số {credential} đã bị vô hiệu hóa tại dịch vụ ký số")


async def call(service: RemoteSettings, use: Callable[[CscClient], Awaitable[T]]) -> T:
    """``use`` a client of ``service``; its failures as the signer's errors."""
    try:
        async with client(service) as opened:
            return await use(opened)
    except RemoteError as exc:
        raise remote_error(service.name, exc) from None


def token_of(service: RemoteSettings) -> TokenInfo:
    return TokenInfo(module=PREFIX + service.url, slot_id=0, label=PREFIX + service.name,
                     serial=PREFIX + service.name, manufacturer="", model=f"CSC API {service.api_version}",
                     flags=REMOTE_FLAGS)


@dataclass(frozen=True)
class RemoteCredential:
    service: RemoteSettings
    credential: Credential
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # as the service sent it (the store orders it)

    @property
    def der(self) -> bytes:
        return self.credential.certificates[0]


@dataclass(frozen=True)
class AuthorisationRequest:
    """What the official is asked for to authorise a credential's signatures (its ``authMode``
    explicit): the credential's PIN, a one-time code, or both."""

    service: str  # [[remote]] name
    credential: str  # the credential's id at the service
    holder: str  # the certificate's holder, as the dialog names it
    signatures: int  # how many signatures this authorisation covers
    pin: bool
    otp: bool
    pin_label: str = ""  # the service's own words for them (credentials/info PIN/OTP label)
    otp_label: str = ""
    otp_sent: bool = False  # the service has just sent the code (an online OTP), rather than a device showing it
    otp_description: str = ""  # the service's words on where the code comes from


@dataclass(frozen=True)
class Authorisation:
    """The official's answer; never shown (repr) or logged."""

    pin: str | None = field(default=None, repr=False)
    otp: str | None = field(default=None, repr=False)


class Authoriser(Protocol):
    """Asks the official (the companion's dialog, or a command's terminal); never the page."""

    async def authorise(self, request: AuthorisationRequest) -> Authorisation: ...


@dataclass
class RemoteKey(CertificateFacts):
    """A credential of a remote service: the engine's ``SigningKey``, and what the signing
    service asks of a key (label, queue, login). Its signatures are gathered into few calls
    (``remote_signing``)."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    service: RemoteSettings
    credential: Credential
    authoriser: Authoriser | None = None  # None: nobody can be asked (an explicit credential cannot sign)
    gathering: Gathering = field(init=False)

    def __post_init__(self) -> None:
        self.gathering = Gathering(self.credential, self.algorithm, lambda: client(self.service), self.authorisation)

    @property
    def label(self) -> str:
        return self.credential.id

    @property
    def queue(self) -> str:
        """One queue per service: its signatures go out in order."""
        return PREFIX + self.service.name

    @property
    def concurrency(self) -> int:
        """Signatures worth asking for at once: a chunk out, the next one filling."""
        return 2 * self.gathering.chunk

    @property
    def signing_s(self) -> float:
        """Time spent in the service's signHash calls (for batch statistics)."""
        return self.gathering.signing_s

    def expect(self, count: int) -> None:
        """A batch of ``count`` signatures begins: one authorisation for them where the service allows."""
        self.gathering.expect(count)

    async def is_logged_in(self) -> bool:
        return True  # each signature carries its own authorisation (the SAD)

    async def pin_per_signature(self) -> bool:
        return False

    async def log_in(self) -> bool:
        return False

    async def authorisation(self, signatures: int) -> Authorisation:
        """What authorises the next ``signatures`` signatures: nothing for an implicit credential;
        for an explicit one, its PIN and/or one-time code asked of the official (an online code
        sent by the service first). The caller keeps the answer only while it signs them."""
        pin, otp = self.credential.pin, self.credential.otp
        if self.credential.auth_mode == IMPLICIT or (self.credential.auth_mode == EXPLICIT and not (pin or otp)):
            return Authorisation()  # nothing to type (v1 PIN and OTP presence "false")
        if self.credential.auth_mode != EXPLICIT:
            raise SignerError(Code.NOT_SUPPORTED,
                              f"{self.service.name}: credentials authorised by {self.credential.auth_mode} "
                              "cannot sign yet",
                              vi=f"{self.service.name}: chưa ký được bằng chứng thư có cách cấp phép "
                                 f"{self.credential.auth_mode}")
        if self.authoriser is None:
            raise SignerError(Code.PIN_UNAVAILABLE,
                              f"{self.service.name}: nobody is there to type the PIN or one-time code of "
                              f"{self.credential.id} (start `signer tray`, or sign at a terminal)",
                              vi=f"{self.service.name}: không có ai ở máy để nhập mã PIN hoặc mã OTP của "
                                 f"{self.credential.id} (hãy chạy `signer tray`, hoặc ký tại cửa sổ dòng lệnh)")
        sent = otp is not None and otp.online
        if sent:
            await call(self.service, lambda client: client.send_otp(self.credential.id))
        return await self.authoriser.authorise(AuthorisationRequest(
            service=self.service.name, credential=self.credential.id,
            holder=holder_name(self.certificate) or self.certificate.subject.human_friendly,
            signatures=signatures, pin=pin is not None, otp=otp is not None,
            pin_label=_own(pin, "PIN"), otp_label=_own(otp, "OTP"), otp_sent=sent,
            otp_description=otp.description if otp else ""))

    async def sign_digest(self, digest: bytes, algorithm: str = "sha256") -> bytes:
        """The service's signature of ``digest``, in a chunk with those asked for meanwhile."""
        try:
            return await self.gathering.sign(digest, algorithm)
        except RemoteError as exc:
            raise remote_error(self.service.name, exc) from None


def _own(asked: AuthInput | None, name: str) -> str:
    """The service's label for a PIN or OTP, unless it only repeats the name the dialog gives it."""
    return asked.label if asked is not None and asked.label.strip().upper() != name else ""


@dataclass(frozen=True)
class ServiceState:
    """A service as ``signer tokens`` shows it: a token of its own."""

    name: str
    url: str
    api_version: str
    credentials: int  # its signing credentials listed (a CA's included)
    error: SignerError | None  # why it could not be listed

    @property
    def reachable(self) -> bool:
        return self.error is None or self.error.code != Code.REMOTE_UNREACHABLE

    def to_json(self) -> dict:
        return {"token": PREFIX + self.name, "name": self.name, "url": self.url, "api_version": self.api_version,
                "reachable": self.reachable, "credentials": self.credentials,
                "error": self.error.as_dict() if self.error else None}


@dataclass
class RemoteCredentials:
    """The credentials of every configured service, read at most every ``FRESH_S`` seconds;
    a service that does not answer is reported (for ``RETRY_S`` seconds without asking it
    again), not fatal to the others."""

    services: tuple[RemoteSettings, ...]
    _seen: dict[str, tuple[float, list[RemoteCredential]]] = field(default_factory=dict)
    _failed: dict[str, tuple[float, SignerError]] = field(default_factory=dict)
    _reading: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def read(self) -> tuple[list[RemoteCredential], list[SignerError]]:
        """Every service's credentials, and the errors of those that failed."""
        found: list[RemoteCredential] = []
        failures: list[SignerError] = []
        for _, listed in await self._each():
            if isinstance(listed, SignerError):
                failures.append(listed)
            else:
                found += listed
        return found, failures

    async def states(self) -> list[ServiceState]:
        """Each service, whether it answered, and how many credentials it listed."""
        return [ServiceState(service.name, service.url, service.api_version,
                             0 if isinstance(listed, SignerError) else len(listed),
                             listed if isinstance(listed, SignerError) else None)
                for service, listed in await self._each()]

    async def _each(self) -> list[tuple[RemoteSettings, list[RemoteCredential] | SignerError]]:
        """Each service's credentials, or why it could not list them."""
        results: list[tuple[RemoteSettings, list[RemoteCredential] | SignerError]] = []
        async with self._reading:  # callers at once wait for one reading and share it
            for service in self.services:
                try:
                    results.append((service, await self._service(service)))
                except SignerError as error:
                    results.append((service, error))
        return results

    async def _service(self, service: RemoteSettings) -> list[RemoteCredential]:
        failed = self._failed.get(service.name)
        if failed is not None and time.monotonic() - failed[0] < RETRY_S:
            raise failed[1]
        seen = self._seen.get(service.name)
        if seen is not None and time.monotonic() - seen[0] <= FRESH_S:
            return seen[1]
        try:
            credentials = await _credentials(service)
        except SignerError as error:
            log.warning("remote_unavailable", service=service.name, code=error.code, reason=error.detail)
            self._failed[service.name] = (time.monotonic(), error)
            raise
        self._failed.pop(service.name, None)
        self._seen[service.name] = (time.monotonic(), credentials)
        return credentials


async def _credentials(service: RemoteSettings) -> list[RemoteCredential]:
    async def read(client: CscClient) -> list[RemoteCredential]:
        credentials = [await client.credential(i) for i in await client.credential_ids()]
        return [c for c in map(_parsed, credentials) if c is not None]

    def _parsed(credential: Credential) -> RemoteCredential | None:
        try:
            certificates = [x509.Certificate.load(der) for der in credential.certificates]
            for certificate in certificates:
                _ = certificate.native  # parse fully now: a broken certificate is skipped, not fatal later
        except ValueError:
            log.warning("certificate_unreadable", token=PREFIX + service.name, label=credential.id)
            return None
        return RemoteCredential(service, credential, certificates[0], tuple(certificates[1:]))

    return await call(service, read)


def credential_id(credential: RemoteCredential) -> str:
    """The certificate's id as for a token's (the first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(credential.der).hexdigest()[:16]
