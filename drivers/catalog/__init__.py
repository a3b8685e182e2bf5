"""The token catalogue: known token models, their PKCS#11 modules, USB ids and ATRs.

The data lives in ``tokens.toml`` next to this file so IT staff can extend it
without code.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class UsbId:
    vendor: int
    product: int | None  # None: any product of this vendor


@dataclass(frozen=True)
class TokenModel:
    vendor: str
    model: str
    modules: dict[str, tuple[str, ...]]  # OS key ("linux", "windows", "macos") -> module paths
    usb: tuple[UsbId, ...]
    atrs: tuple[str, ...]  # regular expressions over "3B:D5:..." (upper-case hex, colon-separated)

    def module_paths(self, os_key: str) -> tuple[str, ...]:
        return self.modules.get(os_key, ())

    def matches_usb(self, vendor: int, product: int) -> bool:
        return any(u.vendor == vendor and u.product in (None, product) for u in self.usb)

    def matches_atr(self, atr: bytes) -> bool:
        text = ":".join(f"{b:02X}" for b in atr)
        return any(re.fullmatch(pattern, text) for pattern in self.atrs)


def current_os() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


@cache
def load_catalog() -> tuple[TokenModel, ...]:
    raw = tomllib.loads(resources.files(__package__).joinpath("tokens.toml").read_text("utf-8"))
    return tuple(_parse_model(entry) for entry in raw["token"])


def _parse_model(entry: dict) -> TokenModel:
    return TokenModel(
        vendor=entry["vendor"],
        model=entry["model"],
        modules={os_key: tuple(paths) for os_key, paths in entry.get("modules", {}).items()},
        usb=tuple(
            UsbId(vendor=int(u["vendor"], 16), product=int(u["product"], 16) if "product" in u else None)
            for u in entry.get("usb", [])
        ),
        atrs=tuple(entry.get("atrs", [])),
    )


def models_for_usb(vendor: int, product: int) -> list[TokenModel]:
    return [m for m in load_catalog() if m.matches_usb(vendor, product)]


def models_for_atr(atr: bytes) -> list[TokenModel]:
    return [m for m in load_catalog() if m.matches_atr(atr)]
