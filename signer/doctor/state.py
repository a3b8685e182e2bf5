"""The state folder (audit log, consents, batches, the companion's secret) private to the user,
and the audit log writable: checked from the files' modes, nothing is written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .machine import Machine
from .result import CheckResult, Fix, result

STATE, AUDIT = "state", "audit"
AUDIT_FILE = "audit.jsonl"  # signer.daemon's


def check_state(machine: Machine) -> CheckResult:
    folder = machine.settings.server.state_dir
    try:
        info = folder.stat()
    except FileNotFoundError:
        return result(STATE, "pass", f"{folder} not created yet (signer serve creates it, private)")
    except OSError as exc:
        return result(STATE, "fail", f"{folder}: {exc.strerror}", _private(folder))
    if os.name != "posix":
        return result(STATE, "pass", f"{folder} (its access list is not checked here)")
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.getuid():
        return result(STATE, "fail", f"{folder} belongs to uid {info.st_uid}, not this user ({os.getuid()})",
                      _private(folder))
    if mode & 0o077:
        return result(STATE, "fail", f"{folder} has mode {mode:04o}: others may read it", _private(folder))
    return result(STATE, "pass", f"{folder} private to this user ({mode:04o})")


def check_audit(machine: Machine) -> CheckResult:
    path = machine.settings.server.state_dir / AUDIT_FILE
    existing = path if path.exists() else _nearest_folder(path)
    if os.access(existing, os.W_OK):
        return result(AUDIT, "pass", f"{path} writable" if existing == path else f"{path} can be created")
    return result(AUDIT, "fail", f"{existing} is not writable by this user", Fix(
        f"trả quyền ghi cho người dùng: sudo chown -R $USER {path.parent}",
        f"give the user write access back: sudo chown -R $USER {path.parent}"))


def _private(folder: Path) -> Fix:
    return Fix(f"chỉ người dùng được đọc thư mục: sudo chown -R $USER {folder} && chmod 700 {folder}",
               f"make the folder the user's alone: sudo chown -R $USER {folder} && chmod 700 {folder}")


def _nearest_folder(path: Path) -> Path:
    """The closest existing folder above ``path``: where it would be created."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder
