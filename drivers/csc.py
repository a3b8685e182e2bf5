"""A client of a remote signing service speaking the Cloud Signature Consortium API, v1 (1.0.4)
or v2 (2.0.0.x), as ``Endpoint.api_version`` says.

The key stays in the service's HSM; the service signs hashes. What is used, with the sections
of the specification (1.0.4.0 / 2.0.0.2) whose JSON it follows: ``info`` (§ 11.1),
``credentials/list`` (§ 11.4), ``credentials/info`` (§ 11.5: certificate and chain, key
algorithms, the authorisation mode, ``SCAL``, ``multisign``, the PIN / OTP an explicit credential
asks for), ``credentials/sendOTP`` (v1 § 11.7: an online one-time code), ``credentials/authorize``
(§ 11.6: the SAD, for ``numSignatures`` hashes, with a PIN or OTP the caller supplies) and
``signatures/signHash`` (v1 § 11.9, v2 § 11.10: many hashes per call). What differs in v2:
``hashes`` and ``hashAlgorithmOID`` instead of ``hash`` and ``hashAlgo``, the PIN and OTP as
``authData`` objects, the authorisation mode and its PIN / OTP as ``auth.mode`` and
``auth.objects`` instead of ``authMode``, ``PIN`` and ``OTP`` (only "explicit" or "oauth2code": a
credential that needs nothing from the official is "explicit" with no authentication objects),
and no pages in ``credentials/list``. Every call is bounded in time and in the size of its
answer. The access token, when the service asks for one, comes from ``drivers.csc_auth``; a call
whose token is refused (HTTP 401) is made once more with a renewed one.

pyHanko's ``CSCSigner`` is not used: it speaks v1 only; it is a pyHanko ``Signer`` that hashes
the data itself and builds the CMS, where the signer's engine hands its keys a digest and wants
a raw signature back (``signer.engine.key.SigningKey``); it turns every error answer into a bare
``SigningError`` (``raise_for_status``), losing the service's ``error`` that the signer's codes
come from; it reads answers unbounded; and importing pyHanko here would load the document
stack with the key layer.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from .csc_http import MAX_ANSWER, RemoteError, RemoteErrorKind, post
from .csc_http import field as _field

__all__ = ["MAX_ANSWER", "CscClient", "Credential", "Endpoint", "RemoteError", "RemoteErrorKind", "ServiceInfo",
           "open_client"]

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
    ``OTP`` objects in v1, its ``auth.objects`` in v2; § 11.5)."""

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


class Bearer(Protocol):
    """Where the access token comes from (``drivers.csc_auth.Authenticator``)."""

    async def bearer(self, session: aiohttp.ClientSession, *, renew: bool = False) -> str | None: ...


class CscClient:
    """Calls to one service over one HTTP session (see ``open_client``)."""

    def __init__(self, endpoint: Endpoint, session: aiohttp.ClientSession, auth: Bearer | None = None) -> None:
        self.endpoint = endpoint
        self.session = session
        self.auth = auth

    @property
    def v2(self) -> bool:
        return self.endpoint.api_version == "v2"

    async def info(self) -> ServiceInfo:
        answer = await self.call("info", {}, authenticated=False)
        return ServiceInfo(name=str(answer.get("name", "")), specs=str(answer.get("specs", "")),
                           methods=tuple(map(str, answer.get("methods", []))),
                           auth_types=tuple(map(str, answer.get("authType", []))))

    async def credential_ids(self) -> list[str]:
        """Every credential id, following ``nextPageToken`` (v1; v2 has no pages)."""
        ids: list[str] = []
        request: dict[str, Any] = {} if self.v2 else {"maxResults": 100}
        while True:
            answer = await self.call("credentials/list", request)
            ids += [str(i) for i in _field(answer, "credentialIDs", list)]
            page = answer.get("nextPageToken")
            if not page:
                return ids
            request = {"maxResults": 100, "pageToken": page}

    async def credential(self, credential_id: str) -> Credential:
        # the PIN and OTP (v1) or auth (v2) objects come only when asked for
        request: dict[str, Any] = {"credentialID": credential_id, "certificates": "chain", "authInfo": True}
        answer = await self.call("credentials/info", request)
        key = _field(answer, "key", dict)
        certificates = tuple(_b64(c) for c in _field(_field(answer, "cert", dict), "certificates", list))
        if not certificates:
            raise RemoteError(f"credential {credential_id} has no certificate", reached=True)
        auth = answer.get("auth")
        if self.v2:
            mode, inputs = _v2_mode(auth), _v2_inputs(auth)
        else:
            mode, inputs = answer.get("authMode"), {name: _auth_input(answer.get(name)) for name in ("PIN", "OTP")}
        return Credential(
            id=credential_id, certificates=certificates,
            algorithms=tuple(str(a) for a in _field(key, "algo", list)),
            enabled=key.get("status", "enabled") == "enabled",
            auth_mode=str(mode or "implicit"),
            scal=_int(answer.get("SCAL", 1), "SCAL"),
            multisign=_int(answer.get("multisign", 1), "multisign"),
            pin=inputs.get("PIN"), otp=inputs.get("OTP"),
        )

    async def send_otp(self, credential_id: str) -> None:
        """Has the service send the holder an online one-time code (spec 1.0.4 § 11.7)."""
        await self.call("credentials/sendOTP", {"credentialID": credential_id})

    async def authorize(self, credential_id: str, hashes: Sequence[bytes], *, pin: str | None = None,
                        otp: str | None = None, digest: str = "sha256", signatures: int | None = None) -> str:
        """The SAD for signing exactly ``hashes`` (bound to them, as SCAL 2 requires), or, with
        no hashes, for any ``signatures`` hashes (SCAL 1: the hashes are not known yet)."""
        request: dict[str, Any] = {"credentialID": credential_id, "numSignatures": len(hashes) or signatures}
        secrets = {"PIN": pin, "OTP": otp}
        if self.v2:
            if hashes:
                request |= {"hashes": [_b64s(h) for h in hashes], "hashAlgorithmOID": HASH_OIDS[digest]}
            # sent for every "explicit" credential (the only kind authorised here), empty when it asks nothing
            request["authData"] = [{"id": name, "value": value} for name, value in secrets.items() if value is not None]
        else:
            if hashes:
                request["hash"] = [_b64s(h) for h in hashes]
            request |= {name: value for name, value in secrets.items() if value is not None}
        return str(_field(await self.call("credentials/authorize", request), "SAD", str))

    async def sign_hashes(self, credential: Credential, sad: str, hashes: Sequence[bytes], *,
                          key_algorithm: str, digest: str) -> list[bytes]:
        """Raw signatures of ``hashes`` (DER for ECDSA), in their order, from one call."""
        request: dict[str, Any] = {"credentialID": credential.id, "SAD": sad,
                   "signAlgo": credential.sign_algorithm(key_algorithm, digest)}
        if self.v2:
            request |= {"hashes": [_b64s(h) for h in hashes], "hashAlgorithmOID": HASH_OIDS[digest]}
        else:
            request |= {"hash": [_b64s(h) for h in hashes], "hashAlgo": HASH_OIDS[digest]}
        signatures = [_b64(s) for s in _field(await self.call("signatures/signHash", request), "signatures", list)]
        if len(signatures) != len(hashes):
            raise RemoteError(f"{len(signatures)} signatures for {len(hashes)} hashes", reached=True)
        return signatures

    async def call(self, method: str, request: dict[str, Any], *, authenticated: bool = True) -> dict[str, Any]:
        """POST one method; its JSON answer, or RemoteError. A refused access token is renewed
        once and the call made again; refused again, it is LOGIN_REQUIRED."""
        url = self.endpoint.method_url(method)
        if self.auth is None or not authenticated:
            return await post(self.session, url, method, json_body=request)
        for renew in (False, True):
            token = await self.auth.bearer(self.session, renew=renew)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            try:
                return await post(self.session, url, method, json_body=request, headers=headers)
            except RemoteError as exc:
                if exc.status != 401 or token is None or renew:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises


@asynccontextmanager
async def open_client(endpoint: Endpoint, auth: Bearer | None = None) -> AsyncIterator[CscClient]:
    """A client with its own session, closed on leaving."""
    timeout = aiohttp.ClientTimeout(total=endpoint.timeout_s, connect=CONNECT_S)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        yield CscClient(endpoint, session, auth)


def _auth_input(value: object) -> AuthInput | None:
    """An absent object, or presence "false": not asked for ("true" or "optional": asked)."""
    if not isinstance(value, dict) or str(value.get("presence", "false")) == "false":
        return None
    return AuthInput(label=str(value.get("label", "")), description=str(value.get("description", "")),
                     online=value.get("type") == "online")


def _v2_mode(auth: object) -> str | None:
    """The authorisation mode as v1 names it: v2's "explicit" with no authentication objects is
    what v1 calls "implicit" (nothing is asked of the official)."""
    if not isinstance(auth, dict):
        return None
    mode = auth.get("mode")
    return "implicit" if mode == "explicit" and not auth.get("objects") else mode


def _v2_inputs(auth: object) -> dict[str, AuthInput | None]:
    """v2's ``auth.objects``, by ``id`` (PIN, OTP); a v2 one-time code is one the holder's device shows."""
    objects = auth.get("objects") if isinstance(auth, dict) else None
    inputs: dict[str, AuthInput | None] = {}
    for item in objects if isinstance(objects, list) else []:
        if isinstance(item, dict) and str(item.get("id", "")).upper() in ("PIN", "OTP"):
            inputs[str(item["id"]).upper()] = AuthInput(label=str(item.get("label", "")),
                                                        description=str(item.get("description", "")))
    return inputs


def _int(value: object, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise RemoteError(f"the answer's {name} is not a number", reached=True) from None


def _b64(value: object) -> bytes:
    """Standard base64, or base64url (a v2 service may answer either)."""
    text = str(value)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RemoteError("the answer has a value that is not base64", reached=True) from None


def _b64s(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
