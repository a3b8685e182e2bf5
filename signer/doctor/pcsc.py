"""The PC/SC service and the cards in its readers. Tokens that are smart cards need ``pcscd``;
others (and SoftHSM) do not, so a service that is not running is a warning, never a failure."""

from __future__ import annotations

from ..keys import connected_devices
from .machine import Machine
from .result import CheckResult, Fix, result

NAME = "pcsc"

START = Fix("khởi động dịch vụ thẻ thông minh: sudo systemctl enable --now pcscd (Windows: dịch vụ Smart Card)",
            "start the smart-card service: sudo systemctl enable --now pcscd (Windows: the Smart Card service)")


def check_pcsc(machine: Machine) -> CheckResult:
    seen = connected_devices()
    why = seen.not_available.get("pcsc")
    if why is not None:
        return result(NAME, "warn", f"cannot read the smart-card readers: {why}", START)
    cards = [d for d in seen.devices if d.kind == "card"]
    if not cards:
        return result(NAME, "pass", "PC/SC service answers; no card in its readers")
    named = ", ".join(f"{d.reader}: {d.model or 'card ' + (d.atr or '?')}" for d in cards)
    return result(NAME, "pass", f"PC/SC service answers; {named}")
