"""Is the desktop companion (``signer tray``) connected to the running daemon? It asks the official
for consent and the PIN, so without it every page's signature is refused.

Told from the kernel's socket tables, without touching the channel (a new connection there would
replace the companion's): while the daemon runs, ``companion.json`` in its state folder says where
its channel listens; each companion connected is one connection accepted on that socket (Linux:
``/proc/net/unix`` lists an accepted Unix socket under the listening socket's path, ``/proc/net/tcp``
an established one on the channel's port). Elsewhere this cannot be told and the line says so."""

from __future__ import annotations

import json
from pathlib import Path

from ..companion.channel import ADDRESS
from ..security.peers import PROC_TABLES, parse_proc_net_tcp
from .machine import Machine
from .result import CheckResult, Fix, result

NAME = "companion"
UNIX_TABLE = "/proc/net/unix"
LISTENING, CONNECTED = "01", "03"  # the St column of /proc/net/unix

START_DAEMON = Fix("khởi động chương trình ký (dịch vụ signer serve), rồi ứng dụng khay: signer tray",
                   "start the signer (the signer serve service), then the companion: signer tray")
START_TRAY = Fix("mở ứng dụng khay trong phiên của người dùng: signer tray (tự khởi động khi đăng nhập)",
                 "start the companion in the user's session: signer tray (it starts itself at login)")


def check_companion(machine: Machine) -> CheckResult:
    state = machine.settings.server.state_dir
    try:
        address = json.loads((state / ADDRESS).read_text("utf-8"))
    except (OSError, ValueError):
        return result(NAME, "warn", f"the daemon is not running (no {state / ADDRESS}): no companion to look for",
                      START_DAEMON)
    try:
        counted = _unix(address["unix"]) if "unix" in address else _tcp(int(address["tcp"]))
    except OSError:
        return result(NAME, "warn", "cannot tell on this system whether the companion is connected", START_TRAY)
    if counted is None:
        return result(NAME, "warn", f"the daemon is not running (its channel in {state} does not listen)",
                      START_DAEMON)
    if counted == 0:
        return result(NAME, "fail", "no companion connected to the running daemon", START_TRAY)
    return result(NAME, "pass", f"{counted} companion connection(s) to the daemon's channel")


def _unix(path: str) -> int | None:
    """Connections accepted on the listening socket at ``path``; None when nothing listens there."""
    rows = [line.split() for line in Path(UNIX_TABLE).read_text("ascii").splitlines()[1:]]
    here = [row for row in rows if len(row) >= 8 and row[7] == path]
    if not any(row[5] == LISTENING for row in here):
        return None
    return sum(1 for row in here if row[5] == CONNECTED)


def _tcp(port: int) -> int | None:
    """Established connections to the channel's loopback ``port``; None when nothing listens there."""
    listening, connected = False, 0
    for table in PROC_TABLES:
        try:
            text = Path(table).read_text("ascii")
        except OSError:
            continue  # no IPv6 in this kernel
        for row in parse_proc_net_tcp(text, local_port=port):
            if row.local[1] != port or not row.inode:
                continue
            if row.remote[1] == 0:
                listening = True
            else:
                connected += 1
    return connected if listening else None
