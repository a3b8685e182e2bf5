"""Firefox's enterprise policy file: the document system's hosts exempted from Local Network Access.

Firefox lists no origins for Local Network Access. It skips the checks for the host names in the
preference ``network.lna.skip-domains`` (comma-separated; ``*.suffix`` also matches the suffix
itself, ``*`` matches every host), which policies.json sets and locks through its ``Preferences``
policy (``network.`` preferences are allowed there). From Firefox 145 the ``LocalNetworkAccess``
policy's ``SkipDomains`` list sets the same preference; where an administrator already uses it,
our hosts go there too, so that whichever of the two Firefox applies last still lists them.

A Firefox build reads one policies.json, which may hold an IT department's other policies, so
the file is merged, never replaced: only our host names are added, and a record beside it keeps
what was added, so that removal takes away exactly that and deletes the file only if we made it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from policies.origins import normalize_origin

from ..errors import Code, SignerError, os_reason_vi
from ..files import write_atomically

PREF = "network.lna.skip-domains"
POLICY_FILE = "policies.json"
RECORD_FILE = "vn-token-signer.json"  # beside policies.json; Firefox reads no other file there


@dataclass(frozen=True)
class FirefoxBuild:
    name: str
    label: str
    executable: str
    policy_dir: Path  # absolute, as on the machine: /etc/<application name>/policies

    def installed(self) -> str | None:
        return shutil.which(self.executable)


# Firefox reads /etc/<its application name>/policies/policies.json before the one in its install
# folder: "firefox" for Mozilla's builds, Ubuntu's snap and most distributions, "firefox-esr"
# for Debian's ESR package.
FIREFOX_BUILDS = (
    FirefoxBuild("firefox", "Firefox", "firefox", Path("/etc/firefox/policies")),
    FirefoxBuild("firefox-esr", "Firefox ESR", "firefox-esr", Path("/etc/firefox-esr/policies")),
)


@dataclass
class Added:
    """What we put into one policies.json: enough to take it out again and nothing else."""

    file: bool = False  # the file did not exist before us
    created: list[str] = field(default_factory=list)  # of "policies", "Preferences", "preference"
    pref_hosts: list[str] = field(default_factory=list)  # appended to the preference's value
    skip_hosts: list[str] = field(default_factory=list)  # appended to LocalNetworkAccess.SkipDomains


def checked_origin(origin: str) -> str:
    """``origin`` normalised, or CONFIG_INVALID: a browser policy lists web origins only."""
    normalized = normalize_origin(origin)
    if normalized is None:
        raise SignerError(Code.CONFIG_INVALID, f"not a web origin (scheme://host[:port]): {origin!r}",
                          vi=f"không phải địa chỉ trang web (scheme://host[:port]): {origin!r}")
    return normalized


def skip_hosts(origins: Iterable[str]) -> list[str]:
    """The host names of the https origins, as Firefox compares them (lower case, no port)."""
    hosts = set()
    for origin in origins:
        parts = urlsplit(checked_origin(origin))
        if parts.scheme == "https" and parts.hostname:
            hosts.add(parts.hostname)
    return sorted(hosts)


def policy_path(build: FirefoxBuild, root: Path) -> Path:
    return root / build.policy_dir.relative_to("/") / POLICY_FILE


def write_firefox(origins: Sequence[str], *, root: Path = Path("/")) -> list[tuple[Path, bytes]]:
    """Merge our hosts into each build's policies.json (replacing what we added before)."""
    hosts = skip_hosts(origins)
    written = []
    for build in FIREFOX_BUILDS:
        path = policy_path(build, root)
        before = _read_record(path)
        data = _read_policies(path)
        if before is not None:
            _unmerge(data, before)
        if not hosts:
            _finish_removal(path, data, before)
            continue
        added = _merge(data, hosts)
        added.file = not path.exists() or (before is not None and before.file)
        content = _dump(data)
        _write(path, content)
        _write(path.with_name(RECORD_FILE), _dump(asdict(added)))
        written.append((path, content))
    return written


def remove_firefox(*, root: Path = Path("/")) -> list[Path]:
    """Take out what we added to each build's policies.json; the files that changed or went."""
    changed = []
    for build in FIREFOX_BUILDS:
        path = policy_path(build, root)
        before = _read_record(path)
        if before is None:
            continue
        data = _read_policies(path)
        _unmerge(data, before)
        _finish_removal(path, data, before)
        changed.append(path)
    return changed


def exempting_files(build: FirefoxBuild, host: str, *, root: Path = Path("/")) -> list[Path]:
    """The build's policies.json if it exempts ``host`` (anyone's entries, not only ours)."""
    path = policy_path(build, root)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return []  # Firefox ignores a policy file it cannot read as well
    lists = _skip_lists(data.get("policies") if isinstance(data, dict) else None)
    # both places set the same preference, in an order we cannot know: each must list the host
    if lists and all(any(_matches(entry.strip(), host) for entry in entries) for entries in lists):
        return [path]
    return []


def _skip_lists(policies: Any) -> list[list[str]]:
    """The entries of each place in ``policies`` that sets the preference."""
    if not isinstance(policies, dict):
        return []
    lists = []
    preferences = policies.get("Preferences")
    preference = preferences.get(PREF) if isinstance(preferences, dict) else None
    value = preference.get("Value") if isinstance(preference, dict) else preference
    if isinstance(value, str):
        lists.append(value.split(","))
    network = policies.get("LocalNetworkAccess")
    skip = network.get("SkipDomains") if isinstance(network, dict) else None
    if isinstance(skip, list):
        lists.append([entry for entry in skip if isinstance(entry, str)])
    return lists


def _matches(entry: str, host: str) -> bool:
    """Firefox's matching of one skip-domains entry (case-sensitive, as Firefox compares)."""
    if entry == "*" or entry == host:
        return True
    return entry.startswith("*.") and (host == entry[2:] or host.endswith(entry[1:]))


def _merge(data: dict[str, Any], hosts: list[str]) -> Added:
    added = Added()
    if "policies" not in data:
        data["policies"] = {}
        added.created.append("policies")
    policies = _object(data["policies"], "policies")
    network = policies.get("LocalNetworkAccess")
    skip = network.get("SkipDomains") if isinstance(network, dict) else None
    if isinstance(skip, list):
        added.skip_hosts = [h for h in hosts if h not in {e.strip() for e in skip if isinstance(e, str)}]
        skip.extend(added.skip_hosts)
    preferences = policies.get("Preferences")
    if preferences is not None:
        preferences = _object(preferences, "policies.Preferences")
    if isinstance(skip, list) and (preferences is None or PREF not in preferences):
        return added  # the administrator's own list sets the preference; a second one would fight it
    if preferences is None:
        preferences = policies["Preferences"] = {}
        added.created.append("Preferences")
    if PREF not in preferences:
        preferences[PREF] = {"Value": "", "Status": "locked"}
        added.created.append("preference")
    value = _pref_value(preferences[PREF])
    listed = {token.strip() for token in value.split(",")}
    added.pref_hosts = [h for h in hosts if h not in listed]
    value = ",".join([value, *added.pref_hosts] if value else added.pref_hosts)
    _set_pref_value(preferences, value)
    return added


def _unmerge(data: dict[str, Any], added: Added) -> None:
    policies = data.get("policies")
    if not isinstance(policies, dict):
        return
    network = policies.get("LocalNetworkAccess")
    skip = network.get("SkipDomains") if isinstance(network, dict) else None
    if isinstance(skip, list):
        for host in added.skip_hosts:
            _drop_last(skip, host)
    preferences = policies.get("Preferences")
    if isinstance(preferences, dict) and PREF in preferences:
        tokens = _pref_value(preferences[PREF]).split(",")
        for host in added.pref_hosts:
            _drop_last(tokens, host)
        if "preference" in added.created and not any(t.strip() for t in tokens):
            del preferences[PREF]
        else:
            _set_pref_value(preferences, ",".join(tokens))
    if "Preferences" in added.created and preferences == {}:
        del policies["Preferences"]
    if "policies" in added.created and policies == {}:
        del data["policies"]


def _drop_last(entries: list[Any], host: str) -> None:
    """Remove the last entry that is ``host``: ours were appended after the others."""
    for index in range(len(entries) - 1, -1, -1):
        if isinstance(entries[index], str) and entries[index].strip() == host:
            del entries[index]
            return


def _pref_value(preference: Any) -> str:
    """The value of a preference entry: ``{"Value": ..., "Status": ...}`` or, before Firefox 81, bare."""
    value = preference.get("Value") if isinstance(preference, dict) else preference
    if not isinstance(value, str):
        raise SignerError(Code.CONFIG_INVALID, f"policies.Preferences.{PREF} is not a string: {value!r}",
                          vi=f"policies.Preferences.{PREF} không phải là chuỗi ký tự: {value!r}")
    return value


def _set_pref_value(preferences: dict[str, Any], value: str) -> None:
    if isinstance(preferences[PREF], dict):
        preferences[PREF]["Value"] = value
    else:
        preferences[PREF] = value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SignerError(Code.CONFIG_INVALID, f"{where} in policies.json is not an object; left as it is",
                          vi=f"{where} trong policies.json không phải là đối tượng JSON; tệp được giữ nguyên")
    return value


def _read_policies(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SignerError(Code.FILE_UNREADABLE, f"{path}: {exc.strerror or exc}",
                          vi=f"{path}: {os_reason_vi(exc)}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        # someone else's file that Firefox cannot read either: not ours to repair
        raise SignerError(Code.CONFIG_INVALID, f"{path}: not valid JSON ({exc}); left as it is",
                          vi=f"{path}: không phải JSON hợp lệ ({exc}); tệp được giữ nguyên") from None
    if not isinstance(data, dict):
        raise SignerError(Code.CONFIG_INVALID, f"{path}: not a JSON object; left as it is",
                          vi=f"{path}: không phải là đối tượng JSON; tệp được giữ nguyên")
    return data


def _read_record(path: Path) -> Added | None:
    record = path.with_name(RECORD_FILE)
    try:
        return Added(**json.loads(record.read_text("utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise SignerError(Code.CONFIG_INVALID, f"{record}: unreadable ({exc}); fix or delete it",
                          vi=f"{record}: không đọc được ({exc}); hãy sửa hoặc xóa tệp này") from None


def _finish_removal(path: Path, data: dict[str, Any], before: Added | None) -> None:
    """Write what is left (or delete the file, if it was ours and nothing is left), drop the record."""
    if before is None:
        return
    if before.file and not data:
        _unlink(path)
    elif path.exists():
        _write(path, _dump(data))
    _unlink(path.with_name(RECORD_FILE))


def _dump(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def _write(path: Path, content: bytes) -> None:
    """Keep the mode of a file that is there (an administrator may have chosen it)."""
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        raise SignerError(Code.OUTPUT_FAILED, f"{path.parent}: {exc.strerror or exc}",
                          vi=f"{path.parent}: {os_reason_vi(exc)}") from None
    write_atomically(path, content, mode=mode)


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise SignerError(Code.OUTPUT_FAILED, f"{path}: {exc.strerror or exc}",
                          vi=f"{path}: {os_reason_vi(exc)}") from None
