"""The machine policy: a TOML file IT staff install for every user of a computer
(``/etc/vn-token-signer/policy.toml`` on Linux). For each key it sets, its value is used and
the user's configuration is ignored, so a user cannot loosen it.

A key left out leaves the user's setting in force, except the exceptions to revocation
checking (``rewrite``, ``no_nonce``, ``fetch_hosts``): a policy with a ``[revocation]`` table
sets them too (empty unless it lists some). ``[origins] allowed`` (when set) is the whole list
of web origins that may call the signer. ``[[remote]]`` tables (when there is at least one)
are the whole list of remote signing services, with the keys of the user's ``[[remote]]``
(checked where the user's are: ``signer.config``).
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PolicyError, vietnamese
from .origins import normalize_origin, origin_list
from .revocation import REVOCATION_KEYS, TIMESTAMP_KEYS

SECTIONS = {"origins", "trust", "revocation", "timestamp", "remote"}
# the exceptions to revocation checking (answers fetched elsewhere, without a nonce, from other hosts):
# a policy with a [revocation] table owns them, so a user cannot loosen the checking it set
REVOCATION_EXCEPTIONS: dict[str, list[Any]] = {"rewrite": [], "no_nonce": [], "fetch_hosts": []}


def machine_policy_path() -> Path:
    """Where this system keeps the machine policy (writable by administrators only)."""
    if sys.platform == "win32":
        return Path(os.environ.get("ProgramData", r"C:\ProgramData")) / "vn-token-signer" / "policy.toml"
    if sys.platform == "darwin":
        return Path("/Library/Application Support/vn-token-signer/policy.toml")
    return Path("/etc/vn-token-signer/policy.toml")


@dataclass(frozen=True)
class MachinePolicy:
    path: Path
    origins: tuple[str, ...] | None = None  # None: the policy leaves origins to the user
    anchors: tuple[Path, ...] | None = None
    intermediates: tuple[Path, ...] | None = None
    revocation: dict[str, Any] = field(default_factory=dict)  # the [revocation] keys it sets
    timestamp: dict[str, Any] = field(default_factory=dict)  # the [timestamp] keys it sets
    remote: tuple[dict[str, Any], ...] | None = None  # its [[remote]] tables, which replace the user's

    def allows(self, origin: str) -> bool:
        """Whether the policy lets ``origin`` be allowed (always, when it lists no origins)."""
        return self.origins is None or normalize_origin(origin) in self.origins


def load_machine_policy(path: Path) -> MachinePolicy | None:
    """The policy at ``path``, or None when there is no file; ValueError names a bad entry."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: {exc}", f"{path}: sai cú pháp TOML ({exc})") from None
    try:
        return _parse(raw, path)
    except (ValueError, TypeError, AttributeError) as exc:
        raise PolicyError(f"{path}: {exc}", f"{path}: {vietnamese(exc)}") from None


def _parse(raw: dict[str, Any], path: Path) -> MachinePolicy:
    _only(raw, SECTIONS, "top level")
    origins, trust = raw.get("origins", {}), raw.get("trust", {})
    revocation, timestamp = dict(raw.get("revocation", {})), dict(raw.get("timestamp", {}))
    _only(origins, {"allowed"}, "[origins]")
    _only(trust, {"anchors", "intermediates"}, "[trust]")
    _only(revocation, REVOCATION_KEYS, "[revocation]")  # not cache_dir: a per-user folder
    _only(timestamp, TIMESTAMP_KEYS | {"url"}, "[timestamp]")
    return MachinePolicy(
        path=path,
        origins=origin_list(origins["allowed"], "[origins] allowed") if "allowed" in origins else None,
        anchors=_paths(trust["anchors"], path.parent) if "anchors" in trust else None,
        intermediates=_paths(trust["intermediates"], path.parent) if "intermediates" in trust else None,
        revocation=(REVOCATION_EXCEPTIONS | revocation) if revocation else revocation,
        timestamp=timestamp,
        remote=_tables(raw["remote"]) if "remote" in raw else None,
    )


def _only(section: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(section) - allowed
    if unknown:
        raise PolicyError(f"unknown setting(s) in {where}: {', '.join(sorted(unknown))}",
                          f"thiết lập không xác định trong {where}: {', '.join(sorted(unknown))}")


def _tables(value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise PolicyError("[[remote]] must be an array of tables", "[[remote]] phải là một mảng các bảng")
    return tuple(value)


def _paths(values: Any, base: Path) -> tuple[Path, ...]:
    if not isinstance(values, list):
        raise PolicyError("[trust] anchors and intermediates must be lists of paths",
                          "[trust] anchors và intermediates phải là danh sách đường dẫn tệp")
    return tuple(Path(os.path.normpath(base / Path(str(v)))) for v in values)
