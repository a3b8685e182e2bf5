"""The token catalogue as the signer shows it: each known model, its module here, what to install."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.catalog import current_os
from drivers.modules import catalogue_status


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
