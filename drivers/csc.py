"""A client of a remote signing service speaking the Cloud Signature Consortium API v1 (1.0.4).

The key stays in the service's HSM; the service signs hashes. What is used: ``info``,
``credentials/list``, ``credentials/info`` (certificate and chain, key algorithms, ``authMode``,
``SCAL``, ``multisign``, the ``PIN`` / ``OTP`` an explicit credential asks for),
``credentials/sendOTP`` (an online one-time code), ``credentials/authorize`` (the SAD, for
``numSignatures`` hashes, with a PIN or OTP the caller supplies) and ``signatures/signHash``
(many hashes per call). Every call is bounded in time and in the size of its answer. Only
unauthenticated services for now: the OAuth 2.0 and HTTP basic flows of the specification are
not built.

pyHanko's ``CSCSigner`` is not used: it is a pyHanko ``Signer`` that hashes the data itself
and builds the CMS, where the signer's engine hands its keys a digest and wants a raw
signature back (``signer.engine.key.SigningKey``); it turns every error answer into a bare
``SigningError`` (``raise_for_status``), losing the service's ``error`` that the signer's codes
come from; it reads answers unbounded; and importing pyHanko here would load the document
stack with the key layer. The requests' JSON follows the same specification sections.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

MAX_ANSWER = 8 * 1024 * 1024  # a credential's chain, or the signatures of a large batch
CONNECT_S = 10.0

HASH_OIDS = {"sha256": "2.16.840.1.101.3.4.2.1", "sha384": "2.16.840.1.101.3.4.2.2", "sha512": "2.16.840.1.101.3.4.2.3"}
RSA_PKCS1 = "1.2.840.113549.1.1.1"  # rsaEncryption: the digest algorithm comes from hashAlgo
SIGN_OIDS = {  # (key algorithm, digest) -> signAlgo naming both
    ("rsa", "sha256"): "1.2.840.113549.1.1.11",
    ("rsa", "sha384"): "1.2.840.113549.1.1.12",
    ("rsa", "sha512"): "1.2.840.113549.1.1.13",
    ("ec", "sha256"): "1.2.840.10045.4.3.2",
    ("ec", "sha384"): "1.2.840.10045.4.3.3",
    ("ec", "sha512"): "1.2.840.10045.4.3.4",
}


class RemoteError(Exception):
    """A call that failed: ``reached`` False when no answer came (refused, timed out), else the
    service's answer: HTTP ``status`` and the specification's ``error`` / ``error_description``."""

    def __init__(self, detail: str, *, reached: bool, status: int | None = None, error: str | None = None,
                 description: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.reached = reached
        self.status = status
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Endpoint:
    """Where the service is: ``url`` precedes ``/csc/<version>/``."""

    url: str
    api_version: str = "v1"
    timeout_s: float = 30.0

    def method_url(self, method: str) -> str:
        return f"{self.url.rstrip('/')}/csc/{self.api_version}/{method}"


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    specs: str
    methods: tuple[str, ...]
    auth_types: tuple[str, ...]


@dataclass(frozen=True)
class AuthInput:
    """A PIN or one-time code an explicit credential asks for (``credentials/info``'s ``PIN`` /
    ``OTP`` objects, spec 1.0.4 § 11.5)."""

    label: str = ""
    description: str = ""
    online: bool = False  # an OTP the service sends (credentials/sendOTP first), not one a device shows


@dataclass(frozen=True)
class Credential:
    """One credential as ``credentials/info`` describes it."""

    id: str
    certificates: tuple[bytes, ...]  # DER, the signer's first, then its chain
    algorithms: tuple[str, ...]  # signAlgo OIDs the key can do
    enabled: bool
    auth_mode: str  # "implicit", "explicit" or "oauth2code"
    scal: int  # 2: the SAD is bound to the hashes it authorises
    multisign: int  # how many hashes one authorisation may cover
    pin: AuthInput | None = None  # what an explicit credential asks for (None: not that)
    otp: AuthInput | None = None

    def sign_algorithm(self, key_algorithm: str, digest: str) -> str:
        """The signAlgo to ask for: the one naming the digest, else rsaEncryption with hashAlgo."""
        named = SIGN_OIDS.get((key_algorithm, digest))
        if named in self.algorithms:
            return named
        if key_algorithm == "rsa" and RSA_PKCS1 in self.algorithms:
            return RSA_PKCS1
        raise RemoteError(f"credential {self.id} cannot sign {digest} with {key_algorithm}", reached=True)


class CscClient:
    """Calls to one service over one HTTP session (see ``open_client``)."""

    def __init__(self, endpoint: Endpoint, session: aiohttp.ClientSession) -> None:
        self.endpoint = endpoint
        self.session = session

    async def info(self) -> ServiceInfo:
        answer = await self.call("info", {})
        return ServiceInfo(name=str(answer.get("name", "")), specs=str(answer.get("specs", "")),
                           methods=tuple(map(str, answer.get("methods", []))),
                           auth_types=tuple(map(str, answer.get("authType", []))))

    async def credential_ids(self) -> list[str]:
        """Every credential id, following ``nextPageToken``."""
        ids: list[str] = []
        request: dict[str, Any] = {"maxResults": 100}
        while True:
            answer = await self.call("credentials/list", request)
            ids += [str(i) for i in _field(answer, "credentialIDs", list)]
            page = answer.get("nextPageToken")
            if not page:
                return ids
            request = {"maxResults": 100, "pageToken": page}

    async def credential(self, credential_id: str) -> Credential:
        answer = await self.call("credentials/info", {"credentialID": credential_id, "certificates": "chain"})
        key = _field(answer, "key", dict)
        certificates = tuple(_b64(c) for c in _field(_field(answer, "cert", dict), "certificates", list))
        if not certificates:
            raise RemoteError(f"credential {credential_id} has no certificate", reached=True)
        return Credential(
            id=credential_id, certificates=certificates,
            algorithms=tuple(str(a) for a in _field(key, "algo", list)),
            enabled=key.get("status", "enabled") == "enabled",
            auth_mode=str(answer.get("authMode", "implicit")),
            scal=_int(answer.get("SCAL", 1), "SCAL"),
            multisign=_int(answer.get("multisign", 1), "multisign"),
            pin=_auth_input(answer.get("PIN")), otp=_auth_input(answer.get("OTP")),
        )

    async def send_otp(self, credential_id: str) -> None:
        """Has the service send the holder an online one-time code (spec 1.0.4 § 11.7)."""
        await self.call("credentials/sendOTP", {"credentialID": credential_id})

    async def authorize(self, credential_id: str, hashes: Sequence[bytes], *, pin: str | None = None,
                        otp: str | None = None) -> str:
        """The SAD for signing exactly ``hashes`` (bound to them, as SCAL 2 requires)."""
        request: dict[str, Any] = {"credentialID": credential_id, "numSignatures": len(hashes),
                                   "hash": [_b64s(h) for h in hashes]}
        if pin is not None:
            request["PIN"] = pin
        if otp is not None:
            request["OTP"] = otp
        return str(_field(await self.call("credentials/authorize", request), "SAD", str))

    async def sign_hashes(self, credential: Credential, sad: str, hashes: Sequence[bytes], *,
                          key_algorithm: str, digest: str) -> list[bytes]:
        """Raw signatures of ``hashes`` (DER for ECDSA), in their order, from one call."""
        request = {"credentialID": credential.id, "SAD": sad, "hash": [_b64s(h) for h in hashes],
                   "hashAlgo": HASH_OIDS[digest], "signAlgo": credential.sign_algorithm(key_algorithm, digest)}
        signatures = [_b64(s) for s in _field(await self.call("signatures/signHash", request), "signatures", list)]
        if len(signatures) != len(hashes):
            raise RemoteError(f"{len(signatures)} signatures for {len(hashes)} hashes", reached=True)
        return signatures

    async def call(self, method: str, request: dict[str, Any]) -> dict[str, Any]:
        """POST one method; its JSON answer, or RemoteError."""
        url = self.endpoint.method_url(method)
        try:
            async with self.session.post(url, json=request) as response:
                body = await _bounded(response)
                status = response.status
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise RemoteError(f"{url}: {type(exc).__name__} {exc}".strip(), reached=False) from None
        except aiohttp.ClientError as exc:
            raise RemoteError(f"{url}: {type(exc).__name__} {exc}".strip(), reached=True) from None
        answer = _json(body)
        if status >= 400:
            error = str(answer.get("error", "")) if isinstance(answer, dict) else ""
            described = str(answer.get("error_description", "")) if isinstance(answer, dict) else ""
            raise RemoteError(f"{method}: HTTP {status} {error} {described}".strip(), reached=True,
                              status=status, error=error or None, description=described)
        if not isinstance(answer, dict):
            raise RemoteError(f"{method}: the answer is not a JSON object", reached=True, status=status)
        return answer


@asynccontextmanager
async def open_client(endpoint: Endpoint) -> AsyncIterator[CscClient]:
    """A client with its own session, closed on leaving."""
    timeout = aiohttp.ClientTimeout(total=endpoint.timeout_s, connect=CONNECT_S)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        yield CscClient(endpoint, session)


async def _bounded(response: aiohttp.ClientResponse) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(65536):
        body += chunk
        if len(body) > MAX_ANSWER:
            raise RemoteError(f"the answer is over {MAX_ANSWER} bytes", reached=True, status=response.status)
    return bytes(body)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else {}
    except ValueError:
        return None


def _field(answer: dict[str, Any], name: str, kind: type) -> Any:
    value = answer.get(name)
    if not isinstance(value, kind):
        raise RemoteError(f"the answer has no {name}", reached=True)
    return value


def _auth_input(value: object) -> AuthInput | None:
    """An absent object, or presence "false": not asked for ("true" or "optional": asked)."""
    if not isinstance(value, dict) or str(value.get("presence", "false")) == "false":
        return None
    return AuthInput(label=str(value.get("label", "")), description=str(value.get("description", "")),
                     online=value.get("type") == "online")


def _int(value: object, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise RemoteError(f"the answer's {name} is not a number", reached=True) from None


def _b64(value: object) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise RemoteError("the answer has a value that is not base64", reached=True) from None


def _b64s(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
