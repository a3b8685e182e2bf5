"""Managed browser policies that let the document system's origins reach the daemon on loopback.

Chrome enforces Local Network Access from 142 (WebSockets from 147): a public page's request to
``127.0.0.1`` is blocked, or the user is asked, unless a managed policy lists the page's origin.
The list was ``LocalNetworkAccessAllowedForUrls`` and is ``LoopbackNetworkAllowedForUrls`` from
146 on; each file here carries both, so one file serves browsers before and after the rename.
The files list the given origins and nothing else; a file of ours is replaced whole.
Firefox has no such list: its shared policies.json is merged instead (``firefox.py``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from policies.origins import DEFAULT_PORTS, normalize_origin

from ..errors import Code, SignerError, os_reason_vi
from ..files import write_atomically
from .firefox import FIREFOX_BUILDS, checked_origin, remove_firefox, write_firefox

POLICY_NAMES = ("LocalNetworkAccessAllowedForUrls", "LoopbackNetworkAllowedForUrls")
FILE_NAME = "vn-token-signer.json"


@dataclass(frozen=True)
class Browser:
    name: str
    label: str
    executables: tuple[str, ...]
    managed_dir: Path  # absolute, as on the machine; joined to a root when writing elsewhere

    def installed(self) -> str | None:
        return next((found for exe in self.executables if (found := shutil.which(exe))), None)


# The Chromium family on Linux: each reads JSON files in its managed policy folder.
CHROMIUM_FAMILY = (
    Browser("chrome", "Google Chrome", ("google-chrome", "google-chrome-stable"),
            Path("/etc/opt/chrome/policies/managed")),
    Browser("chromium", "Chromium", ("chromium", "chromium-browser"), Path("/etc/chromium/policies/managed")),
    Browser("edge", "Microsoft Edge", ("microsoft-edge", "microsoft-edge-stable"),
            Path("/etc/opt/edge/policies/managed")),
    Browser("brave", "Brave", ("brave-browser", "brave"), Path("/etc/brave/policies/managed")),
)
FIREFOX = "firefox"  # both of its builds' files (firefox.FIREFOX_BUILDS)
BROWSER_NAMES = (*(b.name for b in CHROMIUM_FAMILY), FIREFOX)


@dataclass(frozen=True)
class PolicyFile:
    browser: str
    path: Path
    content: bytes


def url_patterns(origins: Iterable[str]) -> list[str]:
    """Origins as Chrome's URL patterns: normalised, the scheme's default port left out, sorted."""
    patterns = set()
    for origin in origins:
        normalized = checked_origin(origin)
        scheme = normalized.split(":", 1)[0]
        patterns.add(normalized.removesuffix(f":{DEFAULT_PORTS[scheme]}"))
    return sorted(patterns)


def policy_files(origins: Sequence[str], *, root: Path = Path("/"),
                 browsers: Sequence[str] = BROWSER_NAMES) -> list[PolicyFile]:
    """The managed policy file of each browser in ``browsers`` for ``origins``, under ``root``."""
    patterns = url_patterns(origins)
    content = (json.dumps({name: patterns for name in POLICY_NAMES}, indent=2) + "\n").encode()
    return [PolicyFile(b.name, _under(root, b.managed_dir) / FILE_NAME, content)
            for b in CHROMIUM_FAMILY if b.name in browsers]


def write_policies(origins: Sequence[str], *, root: Path = Path("/"),
                   browsers: Sequence[str] = BROWSER_NAMES) -> list[PolicyFile]:
    """Write (or replace) our policy file for each browser, merge our part into Firefox's; with no
    origins, remove them instead."""
    if not origins:
        remove_policies(root=root, browsers=browsers)
        return []
    files = policy_files(origins, root=root, browsers=browsers)
    for file in files:
        try:
            file.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        except OSError as exc:
            raise SignerError(Code.OUTPUT_FAILED, f"{file.path.parent}: {exc.strerror or exc}",
                              vi=f"{file.path.parent}: {os_reason_vi(exc)}") from None
        write_atomically(file.path, file.content, mode=0o644)
    firefox = write_firefox(origins, root=root) if FIREFOX in browsers else []
    return [*files, *(PolicyFile(FIREFOX, path, content) for path, content in firefox)]


def remove_policies(*, root: Path = Path("/"), browsers: Sequence[str] = BROWSER_NAMES) -> list[Path]:
    """Remove our policy files (the folders stay: the browser's package or others may own them) and
    our part of Firefox's."""
    removed = []
    for browser in CHROMIUM_FAMILY:
        path = _under(root, browser.managed_dir) / FILE_NAME
        if browser.name in browsers and path.exists():
            try:
                path.unlink()
            except OSError as exc:
                raise SignerError(Code.OUTPUT_FAILED, f"{path}: {exc.strerror or exc}",
                                  vi=f"{path}: {os_reason_vi(exc)}") from None
            removed.append(path)
    return [*removed, *(remove_firefox(root=root) if FIREFOX in browsers else [])]


def policy_dirs() -> list[Path]:
    """Every folder a policy file of ours may be written in (the package owns them, so that they go
    with it when nothing else is left in them)."""
    return [*(b.managed_dir for b in CHROMIUM_FAMILY), *(b.policy_dir for b in FIREFOX_BUILDS)]


def allowing_files(browser: Browser, origin: str, *, root: Path = Path("/")) -> list[Path]:
    """The managed policy files (ours or anyone's) that let ``origin`` through for ``browser``."""
    wanted = normalize_origin(origin)
    folder = _under(root, browser.managed_dir)
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue  # the browser skips a file it cannot read as well
        listed = [entry for name in POLICY_NAMES if isinstance(data, dict)
                  for entry in (data.get(name) or []) if isinstance(entry, str)]
        if "*" in listed or any(normalize_origin(entry) == wanted for entry in listed):
            found.append(path)
    return found


def _under(root: Path, path: Path) -> Path:
    return root / path.relative_to("/")
