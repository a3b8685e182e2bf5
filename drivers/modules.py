"""Finding PKCS#11 module files: configured paths first, then the catalogue's."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .catalog import TokenModel, current_os, load_catalog
from .errors import TokenError

# Where the OS loader finds a module named by file name only. Windows: System32 holds the
# 64-bit modules a 64-bit Python can load (SysWOW64 holds the 32-bit ones, which it cannot).
_LIBRARY_DIRS: dict[str, tuple[str, ...]] = {
    "linux": ("/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"),
    "macos": ("/usr/local/lib", "/opt/homebrew/lib"),
    "windows": (),  # System32 under %SystemRoot%, read when needed
}


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
            raise TokenError("MODULE_NOT_FOUND", f"configured module {path} does not exist", path=str(path),
                             vi=f"không có tệp thư viện {path} đã khai báo trong cấu hình")
        add(path, "configured")
    if use_catalog:
        os_key = os_key or current_os()
        for model in catalog if catalog is not None else load_catalog():
            for path in installed_modules(model, os_key):
                add(path, model.name)
    return found


@dataclass(frozen=True)
class ModelStatus:
    model: TokenModel
    installed: tuple[Path, ...]  # the model's module files present on this machine

    @property
    def advice(self) -> str:
        """What to install, when none of the model's modules is here."""
        return "" if self.installed else self.model.install


def installed_modules(model: TokenModel, os_key: str | None = None) -> tuple[Path, ...]:
    """The model's module files for this OS that exist here (a bare file name in the loader's dirs)."""
    os_key = os_key or current_os()
    return tuple(path for name in model.module_paths(os_key) for path in _locations(name, os_key) if path.is_file())


def model_for_module(path: Path, catalog: Iterable[TokenModel] | None = None, os_key: str | None = None
                     ) -> TokenModel | None:
    """The catalogue's model whose module this file is (same real path, or same file name)."""
    os_key = os_key or current_os()
    real = os.path.realpath(path)
    for model in catalog if catalog is not None else load_catalog():
        for name in model.module_paths(os_key):
            if Path(name).name == path.name or any(os.path.realpath(p) == real for p in _locations(name, os_key)):
                return model
    return None


def catalogue_status(catalog: Iterable[TokenModel] | None = None, os_key: str | None = None) -> list[ModelStatus]:
    return [ModelStatus(m, installed_modules(m, os_key)) for m in (catalog if catalog is not None else load_catalog())]


def _locations(name: str, os_key: str) -> list[Path]:
    path = Path(name)
    if path.is_absolute() or "\\" in name:
        return [path]
    return [Path(folder) / name for folder in _library_dirs(os_key)]


def _library_dirs(os_key: str) -> tuple[str, ...]:
    if os_key == "windows":
        return (os.path.join(os.environ.get("SystemRoot", "C:\\Windows"), "System32"),)
    return _LIBRARY_DIRS.get(os_key, ())
