"""What is connected now, in one look: USB devices and the cards in PC/SC readers.

The watchers report changes; these snapshots let ``signer tokens`` name what is plugged in
but not in the catalogue (so IT staff can add it) and the known tokens whose module is
missing. Each source is optional: a missing library, a stopped service or no permission
gives ``not_available`` with the reason, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from ..catalog import TokenModel, atr_text

SMART_CARD_CLASS = 0x0B
VENDOR_SPECIFIC_CLASS = 0xFF

T = TypeVar("T")


@dataclass(frozen=True)
class UsbDevice:
    vendor: int
    product: int
    classes: frozenset[int]  # the device's class and its interfaces' (bDeviceClass, bInterfaceClass)
    model: TokenModel | None  # the catalogue's entry, when one matches

    @property
    def usb_id(self) -> str:
        return f"{self.vendor:04x}:{self.product:04x}"


@dataclass(frozen=True)
class Card:
    reader: str
    atr: bytes
    model: TokenModel | None

    @property
    def atr_text(self) -> str:
        return atr_text(self.atr)


@dataclass(frozen=True)
class Seen(Generic[T]):
    found: tuple[T, ...] = ()
    not_available: str | None = None  # why this source could not be read


def worth_listing(device: UsbDevice) -> bool:
    """A device that may be a token: in the catalogue, or a smart-card or vendor-specific
    interface (tokens are one or the other). Hubs, mice and disks are left out."""
    return device.model is not None or bool(device.classes & {SMART_CARD_CLASS, VENDOR_SPECIFIC_CLASS})
