"""Changing a token's user PIN, and unblocking it with the security officer (SO) PIN.

Each operation runs on the module's worker thread in a read-write session of its own,
sends every PIN once and never retries: a wrong PIN comes back as PIN_INCORRECT with the
token's flags as they are after the attempt (for the SO PIN, the SO flags). A new PIN
outside the lengths the token states is refused before anything is sent to it.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass

import pkcs11
from pkcs11 import exceptions as p11

from .errors import TokenError
from .tokens import _GONE, Pkcs11Module

_WRONG_PIN = (p11.PinIncorrect, p11.PinLenRange, p11.PinInvalid)
_NEW_PIN_REFUSED = (p11.PinLenRange, p11.PinInvalid, p11.PinTooWeak)
_UNAVAILABLE = 2**32 - 1  # CK_UNAVAILABLE_INFORMATION as a 32-bit module writes it; larger still on 64-bit


@dataclass(frozen=True)
class PinLimits:
    """The lengths of PIN the token accepts (CK_TOKEN_INFO ulMinPinLen, ulMaxPinLen)."""

    min_len: int
    max_len: int | None  # None: the token names no maximum

    def check(self, pin: str) -> None:
        """Refuse a new PIN the token would refuse, before it is sent."""
        length = len(pin.encode("utf-8"))  # the token counts bytes
        if length < self.min_len or (self.max_len is not None and length > self.max_len):
            raise TokenError("NEW_PIN_REJECTED", f"the token takes PINs of {self.min_len} to {self.max_len or '-'} "
                             "bytes", reason="length", min_len=self.min_len, max_len=self.max_len)


def pin_limits(module: Pkcs11Module, serial: str) -> PinLimits:
    return module.administer(serial, lambda token: _limits(module, token))


def change_user_pin(module: Pkcs11Module, serial: str, old_pin: str, new_pin: str) -> None:
    """C_SetPIN in a user session: log in with the old PIN, then set the new one."""

    def on_worker(token: pkcs11.Token) -> None:
        _limits(module, token).check(new_pin)
        try:
            session = token.open(rw=True, user_pin=old_pin)
        except _WRONG_PIN:
            flags = module.token_info(serial).flags
            raise TokenError("PIN_INCORRECT", "wrong PIN", final_try=flags.pin_final_try,
                             count_low=flags.pin_count_low, locked=flags.pin_locked) from None
        except p11.PinLocked:
            raise TokenError("PIN_LOCKED", "the token's PIN is locked", token=token.label.strip()) from None
        except p11.PinExpired:
            # The old PIN is right but must be changed: C_SetPIN also works in a session that is
            # not logged in, where the token checks the old PIN itself.
            session = _public_session(token, serial)
        except p11.PKCS11Error as exc:
            raise _failure(exc, serial, "login", "đăng nhập token") from None
        try:
            session.set_pin(old_pin, new_pin)
        except _NEW_PIN_REFUSED:
            raise TokenError("NEW_PIN_REJECTED", "refused by the token", reason="token") from None
        except p11.PKCS11Error as exc:
            raise _failure(exc, serial, "changing the PIN", "đổi mã PIN") from None
        finally:
            session.close()

    module.administer(serial, on_worker)


def unblock_user_pin(module: Pkcs11Module, serial: str, so_pin: str, new_pin: str) -> None:
    """C_InitPIN in a security officer's session: sets a new user PIN and clears its lock."""

    def on_worker(token: pkcs11.Token) -> None:
        _limits(module, token).check(new_pin)
        try:
            session = token.open(rw=True, so_pin=so_pin)
        except _WRONG_PIN:
            flags = module.token_info(serial).flags
            raise TokenError("PIN_INCORRECT", "wrong SO PIN", so=True, final_try=flags.so_pin_final_try,
                             count_low=flags.so_pin_count_low, locked=flags.so_pin_locked) from None
        except p11.PinLocked:
            raise TokenError("PIN_LOCKED", "the token's SO PIN is locked", so=True,
                             token=token.label.strip()) from None
        except p11.PKCS11Error as exc:
            raise _failure(exc, serial, "security officer login", "đăng nhập bằng mã PIN quản trị") from None
        try:
            session.init_pin(new_pin)
        except _NEW_PIN_REFUSED:
            raise TokenError("NEW_PIN_REJECTED", "refused by the token", reason="token") from None
        except p11.PKCS11Error as exc:
            raise _failure(exc, serial, "setting the PIN", "đặt mã PIN mới") from None
        finally:
            session.close()

    module.administer(serial, on_worker)


def _public_session(token: pkcs11.Token, serial: str) -> pkcs11.Session:
    try:
        return token.open(rw=True)
    except p11.PKCS11Error as exc:
        raise _failure(exc, serial, "opening a session", "mở phiên làm việc với token") from None


def _failure(exc: p11.PKCS11Error, serial: str, step: str, step_vi: str) -> TokenError:
    if isinstance(exc, _GONE):
        return TokenError("TOKEN_NOT_PRESENT", "the token was removed", serial=serial, vi="token đã bị rút ra")
    return TokenError("TOKEN_ERROR", f"{step} failed: {type(exc).__name__}",
                      vi=f"{step_vi} thất bại: {type(exc).__name__}")


# python-pkcs11 does not expose the PIN lengths of CK_TOKEN_INFO, so they are read through
# the module's own function list. The file is already loaded and initialised by
# python-pkcs11: loading it again returns that same instance.

_ULONG = ctypes.c_ulong  # CK_ULONG: unsigned long (32 bits on Windows, as there)


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]


class _TokenInfo(ctypes.Structure):
    _pack_ = 1 if sys.platform == "win32" else 0  # Cryptoki packs its structures on Windows only
    _fields_ = [
        ("label", ctypes.c_char * 32),
        ("manufacturerID", ctypes.c_char * 32),
        ("model", ctypes.c_char * 16),
        ("serialNumber", ctypes.c_char * 16),
        ("flags", _ULONG),
        ("ulMaxSessionCount", _ULONG),
        ("ulSessionCount", _ULONG),
        ("ulMaxRwSessionCount", _ULONG),
        ("ulRwSessionCount", _ULONG),
        ("ulMaxPinLen", _ULONG),
        ("ulMinPinLen", _ULONG),
        ("ulTotalPublicMemory", _ULONG),
        ("ulFreePublicMemory", _ULONG),
        ("ulTotalPrivateMemory", _ULONG),
        ("ulFreePrivateMemory", _ULONG),
        ("hardwareVersion", _Version),
        ("firmwareVersion", _Version),
        ("utcTime", ctypes.c_char * 16),
    ]


_GetTokenInfo = ctypes.CFUNCTYPE(_ULONG, _ULONG, ctypes.POINTER(_TokenInfo))


class _FunctionList(ctypes.Structure):
    _pack_ = _TokenInfo._pack_
    _fields_ = [
        ("version", _Version),
        *((name, ctypes.c_void_p) for name in (
            "C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList", "C_GetSlotList", "C_GetSlotInfo")),
        ("C_GetTokenInfo", _GetTokenInfo),
    ]


def _limits(module: Pkcs11Module, token: pkcs11.Token) -> PinLimits:
    """The token's PIN lengths (on the worker, like every call into the module)."""
    functions = ctypes.POINTER(_FunctionList)()
    info = _TokenInfo()
    rv = ctypes.CDLL(str(module.path)).C_GetFunctionList(ctypes.byref(functions))
    if rv == 0:
        rv = functions.contents.C_GetTokenInfo(token.slot.slot_id, ctypes.byref(info))
    if rv != 0:
        raise TokenError("TOKEN_ERROR", f"reading the token's PIN lengths failed (CKR 0x{rv:x})",
                         vi=f"không đọc được độ dài mã PIN mà token chấp nhận (CKR 0x{rv:x})")
    maximum = info.ulMaxPinLen
    return PinLimits(min_len=info.ulMinPinLen, max_len=maximum if 0 < maximum < _UNAVAILABLE else None)
