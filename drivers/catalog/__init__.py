"""The token catalogue: known token models, their PKCS#11 modules, USB ids and ATRs.

The data lives in ``tokens.toml`` next to this file so IT staff can extend it
without code. The reader checks its shape: a mistyped key or id is refused
rather than silently matching nothing.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

OS_KEYS = frozenset({"linux", "windows", "macos"})
_TOKEN_KEYS = frozenset({"vendor", "model", "source", "install", "modules", "usb", "atrs", "restart_to_see_tokens"})
_REQUIRED_KEYS = frozenset({"vendor", "model", "source", "modules"})
_USB_KEYS = frozenset({"vendor", "product"})
_HEX_ID = re.compile(r"[0-9A-Fa-f]{4}")


class CatalogError(ValueError):
    """The catalogue text does not have the documented shape."""


@dataclass(frozen=True)
class UsbId:
    vendor: int
    product: int | None  # None: any product of this vendor


@dataclass(frozen=True)
class TokenModel:
    vendor: str
    model: str
    modules: dict[str, tuple[str, ...]]  # OS key ("linux", "windows", "macos") -> module paths or file names
    usb: tuple[UsbId, ...]
    atrs: tuple[str, ...]  # regular expressions over "3B:D5:..." (upper-case hex, colon-separated)
    source: tuple[str, ...] = ()  # public pages the entry's facts come from
    install: str = ""  # what to install when none of the modules is on this machine
    # the module sees a token plugged in only when started afresh (SoftHSM): its slots are
    # watched by re-initialising it (while none of its sessions is open)
    restart_to_see_tokens: bool = False

    @property
    def name(self) -> str:
        return f"{self.vendor} {self.model}"

    def module_paths(self, os_key: str) -> tuple[str, ...]:
        return self.modules.get(os_key, ())

    def matches_atr(self, atr: bytes) -> bool:
        text = atr_text(atr)
        return any(re.fullmatch(pattern, text) for pattern in self.atrs)


def atr_text(atr: bytes) -> str:
    return ":".join(f"{b:02X}" for b in atr)


def current_os() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


@cache
def load_catalog() -> tuple[TokenModel, ...]:
    return parse_catalog(resources.files(__package__).joinpath("tokens.toml").read_text("utf-8"))


def parse_catalog(text: str) -> tuple[TokenModel, ...]:
    """Every ``[[token]]`` entry, checked; :class:`CatalogError` names the first fault."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"not valid TOML: {exc}") from None
    _only(raw, frozenset({"token"}), "the catalogue")
    entries = raw.get("token", [])
    if not isinstance(entries, list) or not entries:
        raise CatalogError("the catalogue has no [[token]] entries")
    models = tuple(_parse_model(entry, index) for index, entry in enumerate(entries, 1))
    _check_usb_ids_unique(models)
    return models


def _parse_model(entry: Any, index: int) -> TokenModel:
    where = f"[[token]] #{index}"
    if not isinstance(entry, dict):
        raise CatalogError(f"{where} is not a table")
    _only(entry, _TOKEN_KEYS, where)
    missing = sorted(_REQUIRED_KEYS - entry.keys())
    if missing:
        raise CatalogError(f"{where} lacks {', '.join(missing)}")
    where = f"{where} ({entry['vendor']} {entry['model']})"
    return TokenModel(
        vendor=_text(entry["vendor"], f"{where} vendor"),
        model=_text(entry["model"], f"{where} model"),
        modules=_modules(entry["modules"], where),
        usb=tuple(_usb_id(u, where) for u in _list(entry.get("usb", []), f"{where} usb")),
        atrs=tuple(_atr_pattern(p, where) for p in _list(entry.get("atrs", []), f"{where} atrs")),
        source=_sources(entry["source"], where),
        install=_text(entry["install"], f"{where} install") if "install" in entry else "",
        restart_to_see_tokens=_flag(entry.get("restart_to_see_tokens", False), f"{where} restart_to_see_tokens"),
    )


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise CatalogError(f"{where} must be true or false")
    return value


def _modules(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict) or not value:
        raise CatalogError(f"{where} modules must name at least one OS")
    _only(value, OS_KEYS, f"{where} modules")
    return {os_key: tuple(_text(p, f"{where} modules.{os_key}") for p in _list(paths, f"{where} modules.{os_key}"))
            for os_key, paths in value.items()}


def _usb_id(value: Any, where: str) -> UsbId:
    if not isinstance(value, dict) or "vendor" not in value:
        raise CatalogError(f"{where} usb entries need a vendor id")
    _only(value, _USB_KEYS, f"{where} usb")
    product = value.get("product")
    return UsbId(vendor=_hex_id(value["vendor"], where), product=None if product is None else _hex_id(product, where))


def _hex_id(value: Any, where: str) -> int:
    if not isinstance(value, str) or not _HEX_ID.fullmatch(value):
        raise CatalogError(f"{where} usb id {value!r} is not four hex digits")
    return int(value, 16)


def _atr_pattern(value: Any, where: str) -> str:
    pattern = _text(value, f"{where} atrs")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise CatalogError(f"{where} ATR pattern {pattern!r} does not compile: {exc}") from None
    return pattern


def _sources(value: Any, where: str) -> tuple[str, ...]:
    urls = tuple(_text(u, f"{where} source") for u in _list(value, f"{where} source"))
    if not urls or not all(u.startswith("https://") for u in urls):
        raise CatalogError(f"{where} source must list the https:// pages its facts come from")
    return urls


def _check_usb_ids_unique(models: Iterable[TokenModel]) -> None:
    # One id, one entry: a USB id is the hardware's, so two entries claiming it are a data error.
    owner: dict[UsbId, str] = {}
    for model in models:
        for usb_id in model.usb:
            if usb_id in owner:
                raise CatalogError(f"USB id {_usb_text(usb_id)} is listed by {owner[usb_id]} and {model.name}")
            owner[usb_id] = model.name


def _usb_text(usb_id: UsbId) -> str:
    return f"{usb_id.vendor:04x}:" + ("*" if usb_id.product is None else f"{usb_id.product:04x}")


def _only(table: dict, allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise CatalogError(f"{where} has unknown key(s): {', '.join(unknown)}")


def _list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise CatalogError(f"{where} must be a list")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where} must be a non-empty string")
    return value


def model_for_usb(vendor: int, product: int, catalog: Iterable[TokenModel] | None = None) -> TokenModel | None:
    """The entry for a USB device: one listing this exact id, else one listing the whole vendor."""
    models = tuple(catalog if catalog is not None else load_catalog())
    exact = UsbId(vendor, product)
    for model in models:
        if exact in model.usb:
            return model
    return next((m for m in models if UsbId(vendor, None) in m.usb), None)


def model_for_atr(atr: bytes, catalog: Iterable[TokenModel] | None = None) -> TokenModel | None:
    """The first entry whose ATR patterns match the card's ATR."""
    return next((m for m in (catalog if catalog is not None else load_catalog()) if m.matches_atr(atr)), None)
