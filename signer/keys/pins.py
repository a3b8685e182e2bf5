"""Where PINs come from, for the rest of the signer: the drivers' PIN types and sources,
and the source the configuration chooses."""

from __future__ import annotations

from drivers.errors import TokenError
from drivers.pins import (
    PINPAD,
    DevelopmentPinSource,
    Pin,
    PinRequest,
    PinSource,
    TerminalPinSource,
    has_terminal,
    tries_warning,
)

from ..config import Settings
from .token import driver_call

__all__ = ["PINPAD", "Pin", "PinRequest", "PinSource", "TerminalPinSource", "has_terminal", "pin_refused",
           "pin_source_from", "tries_warning"]


def pin_source_from(settings: Settings) -> PinSource:
    """The development PINs when configured, else the terminal."""
    if settings.pin.source == "development":
        return driver_call(DevelopmentPinSource, settings.pin.development_pins, development=settings.development)
    return TerminalPinSource()


def pin_refused(code: str, detail: str, vi: str) -> Exception:
    """What a PIN source raises to the driver when no PIN can be had (the driver reports it)."""
    return TokenError(code, detail, vi=vi)
