"""The token catalogue as the signer shows it: each known model, its module here, what to install;
and the devices and cards connected now, matched against it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from drivers.catalog import TokenModel, current_os
from drivers.modules import catalogue_status, installed_modules
from drivers.watchers.pcsc import connected_cards
from drivers.watchers.present import worth_listing
from drivers.watchers.usb import connected_usb


@dataclass(frozen=True)
class DriverStatus:
    vendor: str
    model: str
    installed: tuple[str, ...]  # module files of this model present on this machine
    supported_here: bool  # the catalogue names a module for this OS
    install: str  # what to install; empty once a module is here
    source: tuple[str, ...]


def driver_statuses() -> list[DriverStatus]:
    os_key = current_os()
    return [
        DriverStatus(
            vendor=s.model.vendor,
            model=s.model.model,
            installed=tuple(str(p) for p in s.installed),
            supported_here=bool(s.model.module_paths(os_key)),
            install=s.advice,
            source=s.model.source,
        )
        for s in catalogue_status(os_key=os_key)
    ]


@dataclass(frozen=True)
class ConnectedDevice:
    kind: Literal["usb", "card"]
    usb_id: str | None  # "096e:0807"
    atr: str | None  # "3B:95:13:..."
    reader: str | None  # the PC/SC reader holding the card
    model: str | None  # the catalogue's "vendor model", None when not in the catalogue
    module_installed: bool
    install: str  # the catalogue's advice for the model; empty when unknown


@dataclass(frozen=True)
class Connected:
    devices: tuple[ConnectedDevice, ...] = ()
    not_available: dict[str, str] = field(default_factory=dict)  # "usb" / "pcsc" -> why it could not be read

    @property
    def unknown(self) -> tuple[ConnectedDevice, ...]:
        return tuple(d for d in self.devices if d.model is None)

    @property
    def modules_missing(self) -> tuple[ConnectedDevice, ...]:
        return tuple(d for d in self.devices if d.model is not None and not d.module_installed)


def connected_devices(catalog: Iterable[TokenModel] | None = None) -> Connected:
    """USB devices that may be tokens (see ``worth_listing``) and the cards in PC/SC readers."""
    models = tuple(catalog) if catalog is not None else None
    usb = connected_usb(models)
    cards = connected_cards(models)
    devices = [
        _device("usb", d.model, usb_id=d.usb_id) for d in usb.found if worth_listing(d)
    ] + [_device("card", c.model, atr=c.atr_text, reader=c.reader) for c in cards.found]
    unavailable = {name: seen.not_available for name, seen in (("usb", usb), ("pcsc", cards)) if seen.not_available}
    return Connected(tuple(devices), unavailable)


def _device(
    kind: Literal["usb", "card"],
    model: TokenModel | None,
    *,
    usb_id: str | None = None,
    atr: str | None = None,
    reader: str | None = None,
) -> ConnectedDevice:
    return ConnectedDevice(
        kind=kind,
        usb_id=usb_id,
        atr=atr,
        reader=reader,
        model=model.name if model else None,
        module_installed=bool(model and installed_modules(model)),
        install=model.install if model else "",
    )
