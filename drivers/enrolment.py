"""Enrolment on a token: a key pair generated on it, data signed with that new key (a
certificate request), and the issued certificate and its chain stored next to the key.

An ``EnrolmentSession`` is one read-write session, logged in once with a PIN from the same
``PinSource`` as signing (a wrong PIN is reported, never retried); every call into the module
runs on the module's worker thread. The private key is generated on the token, sensitive and
not extractable: only its public half ever leaves it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar, cast

import pkcs11
from asn1crypto import algos, keys, x509
from pkcs11 import Attribute, CertificateType, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.rsa import encode_rsa_public_key

from .errors import TokenError
from .pins import PINPAD, Pin, PinRequest, PinSource, pin_source_for
from .tokeninfo import TokenInfo
from .tokens import _GONE, DIGEST_INFO_PREFIX, Pkcs11Module

T = TypeVar("T")

KEY_ID_BYTES = 20  # as long as a SHA-1 key identifier, the CKA_ID most CAs' tools use


@dataclass(frozen=True)
class KeySpec:
    algorithm: str  # "rsa" or "ec"
    bits: int  # RSA modulus size; for EC the curve's (256: P-256)


RSA_2048 = KeySpec("rsa", 2048)
RSA_3072 = KeySpec("rsa", 3072)
EC_P256 = KeySpec("ec", 256)
_CURVES = {256: "secp256r1"}


@dataclass(frozen=True)
class TokenKeyPair:
    """A key pair on the token: its CKA_ID and CKA_LABEL, and the public key (SubjectPublicKeyInfo DER)."""

    key_id: bytes
    label: str
    public_key: bytes


class EnrolmentSession:
    """A logged-in read-write session on one token, for the duration of a ``with`` block."""

    def __init__(self, module: Pkcs11Module, token: TokenInfo, pins: PinSource) -> None:
        self.module = module
        self.token = token
        self._pins = pins
        self._session: pkcs11.Session | None = None  # only touched on the worker

    def __enter__(self) -> EnrolmentSession:
        if self.token.flags.pin_locked:
            raise TokenError("PIN_LOCKED", "the token's PIN is locked", token=self.token.label)
        pin: Pin | None = None
        if self.token.flags.login_required:
            source = pin_source_for(self.token.flags, self._pins)
            pin = source.pin_for(PinRequest(self.token.label, self.token.serial, self.token.flags))
        self.module.worker.run(self._open, pin)
        del pin
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.module.worker.run(self._close)

    # -- on the worker ---------------------------------------------------------

    def _open(self, pin: Pin | None) -> None:
        token = self.module._find_token(self.token.serial)
        try:
            if pin is None:
                self._session = token.open(rw=True)
            else:
                self._session = token.open(rw=True, user_pin=pkcs11.PROTECTED_AUTH if pin is PINPAD else pin)
        except p11.UserAlreadyLoggedIn:
            # A signing session of this module is logged in, and a login holds for all the
            # application's sessions: a new session is logged in too.
            self._session = token.open(rw=True)
        except (p11.PinIncorrect, p11.PinLenRange, p11.PinInvalid):
            flags = next((t.flags for t in self.module.tokens() if t.serial == self.token.serial), None)
            raise TokenError("PIN_INCORRECT", "wrong PIN", final_try=bool(flags and flags.pin_final_try),
                             count_low=bool(flags and flags.pin_count_low),
                             locked=bool(flags and flags.pin_locked)) from None
        except p11.PinLocked:
            raise TokenError("PIN_LOCKED", "the token's PIN is locked", token=self.token.label) from None
        except p11.PinExpired:
            raise TokenError("PIN_EXPIRED", "the token's PIN must be changed first") from None
        except _GONE:
            raise TokenError("TOKEN_NOT_PRESENT", "the token was removed", serial=self.token.serial,
                             vi="token đã bị rút ra") from None
        except p11.PKCS11Error as exc:
            raise TokenError("TOKEN_ERROR", f"login failed: {type(exc).__name__}",
                             vi=f"đăng nhập token thất bại: {type(exc).__name__}") from None
        self.module.held_sessions += 1  # a slot watcher restarting the module would close it

    def _close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            self.module.held_sessions -= 1
            try:
                session.close()
            except p11.PKCS11Error:
                pass  # the token is gone; nothing left to close

    def _call(self, what: str, what_vi: str, fn: Callable[[pkcs11.Session], T]) -> T:
        """``fn`` with the session, on the worker; the module's failures as TokenErrors."""

        def run() -> T:
            if self._session is None:
                raise TokenError("TOKEN_ERROR", "no enrolment session open",
                                 vi="chưa mở phiên làm việc để ghi khóa lên token")
            try:
                return fn(self._session)
            except _GONE:
                raise TokenError("TOKEN_NOT_PRESENT", "the token was removed", serial=self.token.serial,
                                 vi="token đã bị rút ra") from None
            except p11.PKCS11Error as exc:
                raise TokenError("TOKEN_ERROR", f"{what} failed: {type(exc).__name__}",
                                 vi=f"{what_vi} thất bại: {type(exc).__name__}") from None

        return self.module.worker.run(run)

    # -- enrolment steps -------------------------------------------------------

    def generate_key(self, spec: KeySpec, label: str, key_id: bytes | None = None) -> TokenKeyPair:
        """A new key pair on the token (CKA_ID random unless given); refuses an ID or label in use."""
        key_id = key_id or os.urandom(KEY_ID_BYTES)

        def generate(session: pkcs11.Session) -> TokenKeyPair:
            for obj in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}):
                if bytes(obj[Attribute.ID] or b"") == key_id or (obj[Attribute.LABEL] or "") == label:
                    raise TokenError("KEY_EXISTS", f"label {label!r}, id {key_id.hex()}",
                                     label=label, vi=f"nhãn {label!r}, mã định danh {key_id.hex()}")
            common: dict[str, Any] = {
                "id": key_id, "label": label, "store": True,
                "capabilities": MechanismFlag.SIGN | MechanismFlag.VERIFY,
                "private_template": {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                                     Attribute.PRIVATE: True},
            }
            if spec.algorithm == "rsa":
                public, _ = session.generate_keypair(KeyType.RSA, spec.bits, **common)
                info = keys.PublicKeyInfo.wrap(keys.RSAPublicKey.load(encode_rsa_public_key(public)), "rsa").dump()
            else:
                curve = encode_named_curve_parameters(_CURVES[spec.bits])
                params = session.create_domain_parameters(KeyType.EC, {Attribute.EC_PARAMS: curve}, local=True)
                public, _ = params.generate_keypair(**common)
                info = encode_ec_public_key(public)
            return TokenKeyPair(key_id=key_id, label=label, public_key=info)

        return self._call("key generation", "tạo cặp khóa", generate)

    def sign_sha256(self, key_id: bytes, digest: bytes) -> bytes:
        """The DER signature of a SHA-256 digest (PKCS#1 v1.5 or ECDSA) with the key ``key_id``,
        made as the signing path makes it (SoftHSM has no CKM_ECDSA_SHA256)."""

        def sign(session: pkcs11.Session) -> bytes:
            found = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: key_id}))
            if not found:
                raise TokenError("KEY_NOT_FOUND", "no private key with this id on the token")
            private_key = cast(pkcs11.types.SignMixin, found[0])  # found by class: a private key
            if private_key[Attribute.KEY_TYPE] == KeyType.EC:
                return algos.DSASignature.from_p1363(private_key.sign(digest, mechanism=Mechanism.ECDSA)).dump()
            return bytes(private_key.sign(DIGEST_INFO_PREFIX["sha256"] + digest, mechanism=Mechanism.RSA_PKCS))

        return self._call("signing", "ký bằng khóa trên token", sign)

    def key_for(self, public_key: bytes) -> tuple[bytes, str] | None:
        """CKA_ID and CKA_LABEL of the private key on the token whose public half is ``public_key``
        (SubjectPublicKeyInfo DER), or None. RSA: the private key's modulus and exponent; EC: a
        public key object with the same point, next to a private key with its CKA_ID."""
        wanted = _public_numbers(keys.PublicKeyInfo.load(public_key))
        return self._call("reading keys", "đọc khóa trên token", lambda session: _matching_key(session, wanted))

    def store_certificate(self, der: bytes, label: str, key_id: bytes) -> bool:
        """Store an X.509 certificate object (False: the same certificate is there already)."""
        cert = x509.Certificate.load(der)

        def store(session: pkcs11.Session) -> bool:
            for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
                if bytes(obj[Attribute.VALUE]) == der:
                    return False
            session.create_object({
                Attribute.CLASS: ObjectClass.CERTIFICATE,
                Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: False,
                Attribute.ID: key_id,
                Attribute.LABEL: label,
                Attribute.SUBJECT: cert.subject.dump(),
                Attribute.ISSUER: cert.issuer.dump(),
                Attribute.SERIAL_NUMBER: cert["tbs_certificate"]["serial_number"].dump(),
                Attribute.VALUE: der,
            })
            return True

        return self._call("storing the certificate", "ghi chứng thư số lên token", store)


def _public_numbers(info: keys.PublicKeyInfo) -> tuple:
    """What identifies a public key: ("rsa", n, e) or ("ec", curve, point)."""
    if info.algorithm == "rsa":
        numbers = info["public_key"].parsed
        return ("rsa", numbers["modulus"].native, numbers["public_exponent"].native)
    if info.algorithm == "ec":
        return ("ec", info["algorithm"]["parameters"].dump(), bytes(info["public_key"]))
    return (info.algorithm,)


def _matching_key(session: pkcs11.Session, wanted: tuple) -> tuple[bytes, str] | None:
    private_keys = {bytes(k[Attribute.ID] or b""): k[Attribute.LABEL] or ""
                    for k in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})}
    if wanted[0] == "rsa":
        for key in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.KEY_TYPE: KeyType.RSA}):
            numbers = ("rsa", int.from_bytes(key[Attribute.MODULUS], "big"),
                       int.from_bytes(key[Attribute.PUBLIC_EXPONENT], "big"))
            if numbers == wanted:
                return bytes(key[Attribute.ID] or b""), key[Attribute.LABEL] or ""
    if wanted[0] == "ec":
        for public in session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.KEY_TYPE: KeyType.EC}):
            key_id = bytes(public[Attribute.ID] or b"")
            point = encode_ec_public_key(cast(pkcs11.PublicKey, public))  # found by class: a public key
            numbers = _public_numbers(keys.PublicKeyInfo.load(point))
            if numbers == wanted and key_id in private_keys:
                return key_id, private_keys[key_id]
    return None
