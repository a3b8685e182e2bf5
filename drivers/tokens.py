"""A loaded PKCS#11 module: its tokens, their certificates, and signing with their keys.

Every call into the module runs on the module's one worker thread. A token is
logged in once and its session kept for later signatures; keys marked
CKA_ALWAYS_AUTHENTICATE get a context-specific login per signature, and so do
keys that want one without saying so (a first signature refused with
CKR_USER_NOT_LOGGED_IN). A wrong PIN is reported, never retried.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import pkcs11
from asn1crypto import algos
from pkcs11 import (
    Attribute,
    CertificateType,
    KeyType,
    Mechanism,
    ObjectClass,
    TokenFlag,
)
from pkcs11 import exceptions as p11

from .errors import TokenError
from .pins import PINPAD, Pin, PinRequest, PinSource, pin_source_for
from .tokeninfo import CertificateObject, KeyRef, TokenFlags, TokenInfo
from .worker import ModuleWorker

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Library

T = TypeVar("T")

# DER prefixes of DigestInfo (RFC 8017, section 9.2, note 1) for PKCS#1 v1.5 signatures.
DIGEST_INFO_PREFIX = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}

_GONE = (
    p11.DeviceRemoved,
    p11.TokenNotPresent,
    p11.TokenNotRecognised,
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.SlotIDInvalid,
    p11.DeviceError,
)


class _PinPerSignature(Exception):
    """C_Sign wants a context-specific login that the key does not announce: the SafeNet
    5110 CC answers CKR_USER_NOT_LOGGED_IN though CKA_ALWAYS_AUTHENTICATE is absent or false."""


_open_modules: dict[str, tuple[Pkcs11Module, int]] = {}
_open_lock = threading.Lock()


def open_module(path: Path) -> Pkcs11Module:
    """The process-wide instance for a module file: one worker thread per module, however
    many users (a module loaded twice would be called from two threads)."""
    real = os.path.realpath(path)
    with _open_lock:
        module, users = _open_modules.get(real, (None, 0))
        if module is None:
            module = Pkcs11Module(path)
        _open_modules[real] = (module, users + 1)
        return module


def release_module(module: Pkcs11Module) -> None:
    """Drop one user; the last one logs out and stops the worker."""
    real = os.path.realpath(module.path)
    with _open_lock:
        current, users = _open_modules.get(real, (None, 0))
        if current is not module:
            return
        if users > 1:
            _open_modules[real] = (module, users - 1)
            return
        del _open_modules[real]
    module.close()


class Pkcs11Module:
    """One module file, loaded on its own worker thread. Use ``open_module``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.worker = ModuleWorker(path.stem)
        self._lib = self.worker.run(_load, str(path))
        # Only touched on the worker thread:
        self._sessions: dict[str, pkcs11.Session] = {}
        self._keys: dict[tuple[str, bytes], tuple[pkcs11.types.SignMixin, str, bool]] = {}
        # sessions opened beside ``_sessions`` (an enrolment's): a watcher's restart waits for them
        self.held_sessions = 0
        # Serialises PIN prompts and logins (held outside the worker while a PIN is asked).
        self._login_lock = threading.Lock()
        self.signing_s = 0.0  # time the tokens of this module spent signing, for batch statistics

    # -- listing -------------------------------------------------------------

    def tokens(self) -> list[TokenInfo]:
        return self.worker.run(self._tokens)

    def certificates(self) -> list[CertificateObject]:
        return self.worker.run(self._certificates)

    def rescan(self) -> None:
        """Start the module afresh, for tokens plugged in that it has not noticed."""
        try:
            self.worker.run(self._present_tokens, True)
        except p11.PKCS11Error as exc:
            raise TokenError("TOKEN_ERROR", f"listing tokens failed: {type(exc).__name__}",
                             vi=f"không liệt kê được token: {type(exc).__name__}") from None

    def poll_tokens(self, reinitialise: bool) -> list[TokenInfo]:
        """The tokens present now, for a watcher. ``reinitialise``: start the module afresh
        first (so it notices new tokens), unless a session is open (a login would be lost)."""
        return self.worker.run(self._poll_tokens, reinitialise)

    def _poll_tokens(self, reinitialise: bool) -> list[TokenInfo]:
        try:
            tokens = self._present_tokens(afresh=reinitialise and not self._sessions and not self.held_sessions)
            return [self._token_info(token) for token in tokens]
        except p11.PKCS11Error as exc:
            raise TokenError("TOKEN_ERROR", f"listing tokens failed: {type(exc).__name__}",
                             vi=f"không liệt kê được token: {type(exc).__name__}") from None

    def _tokens(self) -> list[TokenInfo]:
        try:
            return [self._token_info(token) for token in self._present_tokens()]
        except p11.PKCS11Error as exc:
            raise TokenError("TOKEN_ERROR", f"listing tokens failed: {type(exc).__name__}",
                             vi=f"không liệt kê được token: {type(exc).__name__}") from None

    def _certificates(self) -> list[CertificateObject]:
        found: list[CertificateObject] = []
        try:
            tokens = self._present_tokens()
        except p11.PKCS11Error as exc:
            raise TokenError("TOKEN_ERROR", f"listing tokens failed: {type(exc).__name__}",
                             vi=f"không liệt kê được token: {type(exc).__name__}") from None
        for token in tokens:
            try:
                info = self._token_info(token)
                kept = self._sessions.get(info.serial)
                opened = kept is None
                session = token.open() if kept is None else kept
                try:
                    for obj in session.get_objects(
                        {Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509}
                    ):
                        found.append(
                            CertificateObject(
                                token=info,
                                label=obj[Attribute.LABEL] or "",
                                key_id=bytes(obj[Attribute.ID] or b""),
                                der=bytes(obj[Attribute.VALUE]),
                            )
                        )
                finally:
                    if opened:
                        session.close()
            except _GONE:
                continue  # removed while listing: it simply is not there
            except p11.PKCS11Error as exc:
                raise TokenError("TOKEN_ERROR", f"reading certificates failed: {type(exc).__name__}",
                                 vi=f"không đọc được chứng thư số trên token: {type(exc).__name__}") from None
        return found

    def token_info(self, serial: str) -> TokenInfo:
        """The token's description and flags as they are now."""
        return self.worker.run(lambda: self._token_info(self._find_token(serial)))

    def administer(self, serial: str, action: Callable[[pkcs11.Token], T]) -> T:
        """Run ``action`` with the token on the worker, this module's session for it closed first:
        PIN administration logs in on sessions of its own (a user already logged in cannot log in
        again, and a security officer cannot log in while a user's session is open)."""

        def on_worker() -> T:
            self._drop_session(serial)
            return action(self._find_token(serial))

        return self.worker.run(on_worker)

    def _token_info(self, token: pkcs11.Token) -> TokenInfo:
        flags = token.flags
        return TokenInfo(
            module=str(self.path),
            slot_id=token.slot.slot_id,
            label=token.label.strip(),
            serial=_text(token.serial),
            manufacturer=token.manufacturer_id.strip(),
            model=_text(token.model),
            flags=TokenFlags(
                login_required=bool(flags & TokenFlag.LOGIN_REQUIRED),
                protected_authentication_path=bool(flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH),
                pin_count_low=bool(flags & TokenFlag.USER_PIN_COUNT_LOW),
                pin_final_try=bool(flags & TokenFlag.USER_PIN_FINAL_TRY),
                pin_locked=bool(flags & TokenFlag.USER_PIN_LOCKED),
                initialized=bool(flags & TokenFlag.TOKEN_INITIALIZED),
                so_pin_count_low=bool(flags & TokenFlag.SO_PIN_COUNT_LOW),
                so_pin_final_try=bool(flags & TokenFlag.SO_PIN_FINAL_TRY),
                so_pin_locked=bool(flags & TokenFlag.SO_PIN_LOCKED),
            ),
        )

    def _present_tokens(self, afresh: bool = False) -> list[pkcs11.Token]:
        """The tokens plugged in. Some modules (SoftHSM among them) fail every call after a
        token was pulled out: the module is then started afresh (``afresh``: now; ``rescan``
        does so for a token plugged back in that the module has not noticed). Its sessions
        are gone with it, so every token of the module logs in again."""
        if not afresh:
            try:
                return [slot.get_token() for slot in self._lib.get_slots(token_present=True)]
            except p11.PKCS11Error:
                pass
        self._sessions.clear()
        self._keys.clear()
        self._lib.reinitialize()
        return [slot.get_token() for slot in self._lib.get_slots(token_present=True)]

    def _find_token(self, serial: str) -> pkcs11.Token:
        try:
            for token in self._present_tokens():
                if _text(token.serial) == serial:
                    return token
        except p11.PKCS11Error as exc:
            raise TokenError("TOKEN_ERROR", f"listing tokens failed: {type(exc).__name__}",
                             vi=f"không liệt kê được token: {type(exc).__name__}") from None
        raise TokenError("TOKEN_NOT_PRESENT", "the token is not connected", serial=serial,
                         vi="token không được cắm vào máy")

    # -- signing -------------------------------------------------------------

    def sign_digest(self, key: KeyRef, algorithm: str, digest: bytes, pins: PinSource) -> bytes:
        """Sign a precomputed digest with the key (blocking; any thread but the worker)."""
        if not self.prepare_key(key, pins):
            try:
                return self.worker.run(self._sign_on_worker, key, algorithm, digest, None)
            except _PinPerSignature:
                pass  # now remembered: this signature, and the key's later ones, ask for the PIN
        with self._login_lock:  # one PIN prompt at a time, as for logins
            pin = self._ask(key, pins, per_signature=True)
        return self.worker.run(self._sign_on_worker, key, algorithm, digest, pin)

    async def asign_digest(self, key: KeyRef, algorithm: str, digest: bytes, pins: PinSource) -> bytes:
        """Sign a precomputed digest; awaits the worker, asks for a PIN off the event loop."""
        signature = await self.worker.arun(self._sign_if_ready, key, algorithm, digest)
        if signature is None:  # a login or a per-signature PIN first
            return await asyncio.to_thread(self.sign_digest, key, algorithm, digest, pins)
        return signature

    def logout(self) -> None:
        self.worker.run(self._logout_all)

    async def alogout(self, serial: str | None = None, *, keep: Collection[str] = ()) -> None:
        """Log out one token (``serial``) or all of this module's but ``keep``, on the worker."""
        await self.worker.arun(self._logout_all, serial, keep)

    def close(self) -> None:
        self.logout()
        self.worker.close()

    def key_ready(self, key: KeyRef) -> bool | None:
        """None: not logged in yet; else whether the key needs a PIN per signature."""
        cached = self._keys.get((key.token_serial, key.key_id))
        if cached is None or key.token_serial not in self._sessions:
            return None
        return cached[2]

    def prepare_key(self, key: KeyRef, pins: PinSource) -> bool:
        """Log in if needed (asking for the PIN once) and find the key; returns whether it needs
        the PIN per signature as far as known: CKA_ALWAYS_AUTHENTICATE, or a signature refused without it."""
        with self._login_lock:
            ready = self.worker.run(self.key_ready, key)
            if ready is not None:
                return ready
            if not self.worker.run(self._has_session, key.token_serial):
                info = self.worker.run(lambda: self._token_info(self._find_token(key.token_serial)))
                if info.flags.pin_locked:
                    raise TokenError("PIN_LOCKED", "the token's PIN is locked", token=info.label)
                pin: Pin | None = None
                if info.flags.login_required:
                    source = pin_source_for(info.flags, pins)
                    pin = source.pin_for(PinRequest(info.label, info.serial, info.flags))
                self.worker.run(self._login, key.token_serial, pin)
                del pin
            return self.worker.run(self._load_key, key)

    def _ask(self, key: KeyRef, pins: PinSource, per_signature: bool) -> Pin:
        info = self.worker.run(lambda: self._token_info(self._find_token(key.token_serial)))
        source = pin_source_for(info.flags, pins)
        return source.pin_for(PinRequest(info.label, info.serial, info.flags, per_signature=per_signature))

    def _has_session(self, serial: str) -> bool:
        return serial in self._sessions

    def _login(self, serial: str, pin: Pin | None) -> None:
        token = self._find_token(serial)
        try:
            if pin is None:
                session = token.open()
            else:
                session = token.open(user_pin=pkcs11.PROTECTED_AUTH if pin is PINPAD else pin)
        except (p11.PinIncorrect, p11.PinLenRange, p11.PinInvalid):
            raise self._pin_incorrect(serial) from None
        except p11.PinLocked:
            raise TokenError("PIN_LOCKED", "the token's PIN is locked", token=token.label.strip()) from None
        except p11.PinExpired:
            raise TokenError("PIN_EXPIRED", "the token's PIN must be changed first") from None
        except _GONE:
            raise TokenError("TOKEN_NOT_PRESENT", "the token was removed", serial=serial,
                             vi="token đã bị rút ra") from None
        except p11.PKCS11Error as exc:
            raise TokenError("TOKEN_ERROR", f"login failed: {type(exc).__name__}",
                             vi=f"đăng nhập token thất bại: {type(exc).__name__}") from None
        self._sessions[serial] = session

    def _pin_incorrect(self, serial: str) -> TokenError:
        try:
            flags = self._token_info(self._find_token(serial)).flags
        except (TokenError, p11.PKCS11Error):
            flags = None
        return TokenError(
            "PIN_INCORRECT",
            "wrong PIN",
            final_try=bool(flags and flags.pin_final_try),
            count_low=bool(flags and flags.pin_count_low),
            locked=bool(flags and flags.pin_locked),
        )

    def _load_key(self, key: KeyRef) -> bool:
        session = self._sessions[key.token_serial]
        try:
            found = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: key.key_id}))
        except _GONE:
            self._drop_session(key.token_serial)
            raise TokenError("TOKEN_NOT_PRESENT", "the token was removed", serial=key.token_serial,
                             vi="token đã bị rút ra") from None
        if not found:
            raise TokenError("KEY_NOT_FOUND", "no private key for this certificate on the token", label=key.label)
        private_key = cast(pkcs11.types.SignMixin, found[0])  # found by class: a private key
        kind = "ec" if private_key[Attribute.KEY_TYPE] == KeyType.EC else "rsa"
        try:
            always_auth = bool(private_key[Attribute.ALWAYS_AUTHENTICATE])
        except (p11.AttributeTypeInvalid, p11.AttributeSensitive):
            always_auth = False
        self._keys[(key.token_serial, key.key_id)] = (private_key, kind, always_auth)
        return always_auth

    def _sign_if_ready(self, key: KeyRef, algorithm: str, digest: bytes) -> bytes | None:
        """One trip to the worker for the usual case: logged in, no PIN per signature."""
        if self.key_ready(key) is not False:
            return None
        try:
            return self._sign_on_worker(key, algorithm, digest, None)
        except _PinPerSignature:
            return None  # now remembered: ``sign_digest`` asks for this signature's PIN

    def _sign_on_worker(self, key: KeyRef, algorithm: str, digest: bytes, pin: Pin | None) -> bytes:
        private_key, kind, _ = self._keys[(key.token_serial, key.key_id)]
        context_pin = None if pin is None or pin is PINPAD else pin
        started = time.perf_counter()
        try:
            if kind == "rsa":
                return private_key.sign(
                    DIGEST_INFO_PREFIX[algorithm] + digest, mechanism=Mechanism.RSA_PKCS, pin=context_pin
                )
            raw = private_key.sign(digest, mechanism=Mechanism.ECDSA, pin=context_pin)
            return algos.DSASignature.from_p1363(raw).dump()
        except (p11.PinIncorrect, p11.PinLenRange, p11.PinInvalid):
            raise self._pin_incorrect(key.token_serial) from None
        except p11.PinLocked:
            raise TokenError("PIN_LOCKED", "the token's PIN is locked") from None
        except p11.UserNotLoggedIn:
            if pin is not None:  # a per-signature PIN was given: something else is wrong
                raise TokenError("TOKEN_ERROR", "signing failed: UserNotLoggedIn",
                                 vi="ký số trên token thất bại: UserNotLoggedIn") from None
            self._keys[(key.token_serial, key.key_id)] = (private_key, kind, True)
            raise _PinPerSignature from None
        except (*_GONE, p11.ObjectHandleInvalid, p11.KeyHandleInvalid):
            self._drop_session(key.token_serial)
            raise TokenError("TOKEN_NOT_PRESENT", "the token was removed", serial=key.token_serial,
                             vi="token đã bị rút ra") from None
        except p11.PKCS11Error as exc:
            raise TokenError("TOKEN_ERROR", f"signing failed: {type(exc).__name__}",
                             vi=f"ký số trên token thất bại: {type(exc).__name__}") from None
        finally:
            self.signing_s += time.perf_counter() - started

    def _drop_session(self, serial: str) -> None:
        session = self._sessions.pop(serial, None)
        for cache_key in [k for k in self._keys if k[0] == serial]:
            del self._keys[cache_key]
        if session is not None:
            try:
                session.close()
            except p11.PKCS11Error:
                pass  # the token is gone; nothing left to close

    def _logout_all(self, only: str | None = None, keep: Collection[str] = ()) -> None:
        for serial in list(self._sessions):
            if (only is None or serial == only) and serial not in keep:
                self._drop_session(serial)


def _load(path: str) -> Library:
    try:
        return pkcs11.lib(path)
    except (OSError, RuntimeError, p11.PKCS11Error) as exc:
        reason = load_reason(exc, path)
        raise TokenError("MODULE_LOAD_FAILED", f"cannot load {path}: {reason}",
                         vi=f"hệ điều hành không nạp được tệp {path}: {reason}", path=path) from None


def load_reason(exc: BaseException, path: str) -> str:
    """The loader's own words (``wrong ELF class: ELFCLASS32``, ``file too short``), without the
    path python-pkcs11 and the loader put in front; a module that loads but fails its
    initialisation raises a PKCS#11 error with no text, named by its class then."""
    text = str(exc).strip().removeprefix(f"OS exception while loading {path}:").strip()
    return text.removeprefix(f"{path}:").strip() or type(exc).__name__


def _text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    return value.strip()
