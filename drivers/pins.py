"""Where a PIN comes from: the terminal, the development configuration, or a pinpad.

Every source answers one request at a time and never retries: a wrong PIN goes
back to the caller as PIN_INCORRECT, with the token's remaining-tries flags.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol, TextIO

from .errors import TokenError
from .tokeninfo import TokenFlags


class _Pinpad:
    def __repr__(self) -> str:
        return "PINPAD"


PINPAD: Final = _Pinpad()
"""Returned instead of a PIN when the reader's pinpad takes it (protected authentication path)."""

Pin = str | _Pinpad


@dataclass(frozen=True)
class PinRequest:
    token_label: str
    token_serial: str
    flags: TokenFlags
    per_signature: bool = False  # CKA_ALWAYS_AUTHENTICATE: asked again for each signature


class PinSource(Protocol):
    def pin_for(self, request: PinRequest) -> Pin: ...


def tries_warning(flags: TokenFlags) -> tuple[str, str] | None:
    """The (English, Vietnamese) warning to show before asking, from the token flags."""
    if flags.pin_final_try:
        return (
            "Final try: one more wrong PIN locks this token.",
            "Lần thử cuối: nhập sai PIN thêm một lần nữa token sẽ bị khóa.",
        )
    if flags.pin_count_low:
        return (
            "A wrong PIN was entered recently; few tries remain.",
            "Đã có lần nhập sai PIN; số lần thử còn lại không nhiều.",
        )
    return None


class TerminalPinSource:
    """Asks on the controlling terminal, with echo off."""

    def __init__(
        self,
        read: Callable[[str], str] = getpass.getpass,
        out: TextIO = sys.stderr,
        interactive: Callable[[], bool] | None = None,
    ) -> None:
        self._read = read
        self._out = out
        self._interactive = interactive or has_terminal

    def pin_for(self, request: PinRequest) -> Pin:
        if not self._interactive():
            raise TokenError("PIN_UNAVAILABLE", "no terminal to ask for the PIN",
                             vi="không có cửa sổ dòng lệnh để hỏi mã PIN")
        warning = tries_warning(request.flags)
        if warning:
            print(f"{warning[1]} / {warning[0]}", file=self._out)
        what = "for this signature" if request.per_signature else "to log in"
        try:
            pin = self._read(f"PIN của token / PIN of token '{request.token_label}' ({what}): ")
        except (EOFError, KeyboardInterrupt):
            raise TokenError("USER_CANCELLED", "PIN entry cancelled") from None
        if not pin:
            raise TokenError("USER_CANCELLED", "empty PIN")
        return pin


class DevelopmentPinSource:
    """PINs from the development configuration, keyed by token label.

    Only for SoftHSM development and CI tokens: it refuses to exist unless the
    configuration says development = true, and it refuses to try its PIN on a
    token that reports earlier wrong PINs (so a stale configuration cannot lock it).
    """

    def __init__(self, pins: Mapping[str, str], *, development: bool) -> None:
        if not development:
            raise TokenError(
                "PIN_SOURCE_REFUSED", "the development PIN source needs development = true",
                vi="nguồn cấp PIN dành cho môi trường phát triển chỉ dùng được khi cấu hình có development = true",
            )
        self._pins = dict(pins)

    def pin_for(self, request: PinRequest) -> Pin:
        if request.flags.pin_count_low or request.flags.pin_final_try:
            raise TokenError(
                "PIN_SOURCE_REFUSED",
                "token reports earlier wrong PINs, so the development PIN is not tried; "
                "log in once with the right PIN (pin source = terminal) to clear the count",
                token=request.token_label,
                vi=("token báo đã có lần nhập sai mã PIN trước đó, nên không thử mã PIN của môi trường phát triển; "
                    "hãy đăng nhập một lần bằng mã PIN đúng (pin source = terminal) để xóa số lần nhập sai"),
            )
        try:
            return self._pins[request.token_label]
        except KeyError:
            raise TokenError(
                "PIN_UNAVAILABLE", "no development PIN for this token", token=request.token_label,
                vi="không có mã PIN của môi trường phát triển cho token này",
            ) from None


class PinpadPinSource:
    """For readers with a pinpad: the PIN is typed on the reader, never seen by us."""

    def __init__(self, notify: Callable[[PinRequest], None] | None = None) -> None:
        self._notify = notify

    def pin_for(self, request: PinRequest) -> Pin:
        if self._notify:
            self._notify(request)
        return PINPAD


def pin_source_for(flags: TokenFlags, configured: PinSource, pinpad: PinSource | None = None) -> PinSource:
    """A token with a protected authentication path always uses its pinpad: through the
    configured source when that source tells the official so itself (``handles_pinpad``,
    e.g. a dialog), else through ``pinpad``."""
    if flags.protected_authentication_path and not getattr(configured, "handles_pinpad", False):
        return pinpad or PinpadPinSource()
    return configured


def has_terminal() -> bool:
    """Whether a PIN can be asked: a controlling terminal (getpass reads it, with echo off)."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR) if os.name == "posix" else None
    except OSError:
        return False
    if fd is not None:
        os.close(fd)
        return True
    return sys.stdin.isatty()
