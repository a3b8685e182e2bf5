"""Finding PKCS#11 module files: configured paths first, then the catalogue's."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .catalog import TokenModel, current_os, load_catalog
from .errors import TokenError


@dataclass(frozen=True)
class ModuleCandidate:
    path: Path
    source: str  # "configured" or the catalogue model's "vendor model"


def discover_modules(
    configured: Sequence[Path],
    *,
    use_catalog: bool = True,
    catalog: Iterable[TokenModel] | None = None,
    os_key: str | None = None,
) -> list[ModuleCandidate]:
    """Module files to load, without duplicates (same real path), in priority order.

    A configured path that does not exist is an error: IT staff named it on purpose.
    Catalogue paths are tried quietly; only those present on this machine are kept.
    """
    found: list[ModuleCandidate] = []
    seen: set[str] = set()

    def add(path: Path, source: str) -> None:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            found.append(ModuleCandidate(path=path, source=source))

    for path in configured:
        if not path.is_file():
            raise TokenError("MODULE_NOT_FOUND", f"configured module {path} does not exist", path=str(path))
        add(path, "configured")
    if use_catalog:
        os_key = os_key or current_os()
        for model in catalog if catalog is not None else load_catalog():
            for name in model.module_paths(os_key):
                path = Path(name)
                if path.is_absolute() and path.is_file():
                    add(path, f"{model.vendor} {model.model}")
    return found
