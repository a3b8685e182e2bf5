"""Loading each PKCS#11 module once to see whether it loads, for ``signer doctor``: the configured
paths (one that does not exist is reported, not raised) and the catalogue's modules present here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from drivers.errors import TokenError
from drivers.modules import discover_modules
from drivers.tokens import open_module, release_module

from ..config import TokenSettings

CONFIGURED = "configured"


@dataclass(frozen=True)
class ModuleProbe:
    path: Path
    source: str  # "configured" or the catalogue's "vendor model"
    present: bool
    error: str | None  # why it did not load; None: it loaded


def probe_modules(tokens: TokenSettings) -> list[ModuleProbe]:
    probes = [_probe(path, CONFIGURED) if path.is_file() else ModuleProbe(path, CONFIGURED, False, "does not exist")
              for path in tokens.modules]
    if tokens.use_catalog:
        seen = {os.path.realpath(p.path) for p in probes}
        probes += [_probe(c.path, c.source) for c in discover_modules((), use_catalog=True)
                   if os.path.realpath(c.path) not in seen]
    return probes


def _probe(path: Path, source: str) -> ModuleProbe:
    try:
        module = open_module(path)
    except TokenError as exc:
        return ModuleProbe(path, source, True, exc.detail or exc.code)
    release_module(module)
    return ModuleProbe(path, source, True, None)
