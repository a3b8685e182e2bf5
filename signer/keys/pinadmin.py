"""PIN administration for the signer: which token, its PIN lengths, changing and unblocking.

The drivers do the work on the module's worker; here the token is chosen and their
failures become the signer's errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.pinadmin import PinLimits, change_user_pin, pin_limits, unblock_user_pin
from drivers.tokeninfo import TokenInfo
from drivers.tokens import Pkcs11Module

from ..errors import Code, SignerError
from .store import KeyStore
from .token import driver_call

__all__ = ["PinLimits", "PinTarget", "TokenInfo", "pin_target"]  # the edges see drivers' types through here


@dataclass(frozen=True)
class PinTarget:
    """One token whose PIN is administered, and the lengths of PIN it accepts."""

    token: TokenInfo
    limits: PinLimits
    module: Pkcs11Module

    def now(self) -> TokenInfo:
        """The token with its flags as they are now (after an attempt)."""
        return driver_call(self.module.token_info, self.token.serial)

    def check_new(self, pin: str) -> None:
        driver_call(self.limits.check, pin)

    def change(self, old_pin: str, new_pin: str) -> None:
        driver_call(change_user_pin, self.module, self.token.serial, old_pin, new_pin)

    def unblock(self, so_pin: str, new_pin: str) -> None:
        driver_call(unblock_user_pin, self.module, self.token.serial, so_pin, new_pin)


def pin_target(store: KeyStore, selector: str | None) -> PinTarget:
    """The token named by serial or label; with no name, the only token connected."""
    found = [(module, token) for module in store.modules for token in driver_call(module.tokens)
             if token.flags.initialized]
    names = ", ".join(sorted(f"{t.label} ({t.serial})" for _, t in found)) or "-"
    if selector is not None:
        found = [(m, t) for m, t in found if selector in (t.serial, t.label)]
        if not found:
            raise SignerError(Code.TOKEN_NOT_PRESENT, f"no token with serial or label '{selector}' (tokens: {names})",
                              vi=f"không có token nào mang số sê-ri hoặc nhãn '{selector}' (các token: {names})")
    if not found:
        raise SignerError(Code.TOKEN_NOT_PRESENT, "plug in the USB token and try again",
                          vi="hãy cắm USB token vào máy rồi thử lại")
    if len(found) > 1:
        raise SignerError(Code.BAD_REQUEST, f"several tokens are connected: choose one with --token ({names})",
                          vi=f"đang cắm nhiều token: hãy chọn một token bằng --token ({names})")
    module, token = found[0]
    return PinTarget(token=token, limits=driver_call(pin_limits, module, token.serial), module=module)
