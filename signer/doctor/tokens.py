"""The tokens plugged in and their PIN flags (read from the token; no PIN is asked)."""

from __future__ import annotations

from ..errors import SignerError
from ..keys import KeyStore
from .machine import Machine
from .result import CheckResult, Finding, Fix, combine, result, skipped

NAME = "tokens"

PLUG_IN = Fix("cắm USB token vào máy (nếu đã cắm: rút ra, cắm lại và kiểm tra driver)",
              "plug the USB token in (if it is: unplug it, plug it back and check its driver)")
LOCKED = Fix("PIN đã bị khóa: nhờ cán bộ CNTT mở khóa bằng PIN quản trị (signer pin unblock)",
             "the PIN is locked: IT staff unblock it with the security officer PIN (signer pin unblock)")
TRIES = Fix("nhập sai PIN thêm có thể khóa token: kiểm tra kỹ PIN, hoặc đổi PIN (signer pin change)",
            "more wrong PINs may lock the token: be sure of the PIN, or change it (signer pin change)")


def check_tokens(machine: Machine) -> CheckResult:
    keys = machine.keys()
    if not isinstance(keys, KeyStore):
        return skipped(NAME, "no PKCS#11 module loads")
    try:
        tokens = [t for t in keys.tokens() if t.flags.initialized]
    except SignerError as error:
        return result(NAME, "fail", f"listing tokens failed: {error.detail}", PLUG_IN)
    findings = []
    for token in tokens:
        name, flags = f"{token.label} (serial {token.serial})", token.flags
        if flags.pin_locked:
            findings.append(Finding("fail", f"{name}: PIN locked", LOCKED))
        elif flags.pin_final_try:
            findings.append(Finding("warn", f"{name}: one more wrong PIN locks it", TRIES))
        elif flags.pin_count_low:
            findings.append(Finding("warn", f"{name}: a wrong PIN was entered since the last good one", TRIES))
        else:
            findings.append(Finding("pass", f"{name}: PIN ready"))
    return combine(NAME, findings, none=Finding("fail", "no token plugged in", PLUG_IN))
