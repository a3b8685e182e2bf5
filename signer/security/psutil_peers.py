"""Who owns a loopback TCP peer, asked through psutil (Windows and macOS, where no ``/proc`` is).

The peer's end of the connection is the socket whose local address is the peer's and whose
remote address is ours; psutil names the process holding it (Windows ``GetExtendedTcpTable``,
macOS libproc). That process's user is then compared with the daemon's: the account name on
Windows, the real uid elsewhere.

macOS lists other users' sockets only to root. Denied the system-wide table, the daemon asks
only its own user's processes for their connections: that finds a peer of its own user, and a
peer it does not find is not its own user's, so it is refused all the same.

psutil is imported at the first lookup, so that start-up and Linux never load it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from .endpoints import Endpoint, endpoint

Owner = int | str  # a real uid (POSIX) or an account name (Windows)


def _psutil() -> Any:
    import psutil

    return psutil


def _is_peer_end(connection: Any, peer: Endpoint, ours: Endpoint) -> bool:
    if not connection.laddr or not connection.raddr:  # a listening socket has no remote end
        return False
    return endpoint(connection.laddr) == peer and endpoint(connection.raddr) == ours


def _find(connections: Iterable[Any], peer: Endpoint, ours: Endpoint) -> Any | None:
    return next((c for c in connections if _is_peer_end(c, peer, ours)), None)


def process_owner(process: Any) -> Owner:
    """The OS user a psutil ``Process`` runs as."""
    return str(process.username()) if os.name == "nt" else int(process.uids().real)


def own_owner() -> Owner:
    """The OS user the daemon runs as, in the form ``process_owner`` gives."""
    return process_owner(_psutil().Process()) if os.name == "nt" else os.getuid()


def system_peer_pid(peer: Endpoint, ours: Endpoint) -> int | None:
    """The pid holding the peer's end, from the system-wide table; raises psutil's
    ``AccessDenied`` where only an administrator may read that table."""
    found = _find(_psutil().net_connections(kind="tcp"), peer, ours)
    return None if found is None or found.pid is None else int(found.pid)


def own_user_peer_pid(peer: Endpoint, ours: Endpoint) -> int | None:
    """The pid holding the peer's end among the processes of the daemon's own user only."""
    psutil = _psutil()
    me = own_owner()
    for process in psutil.process_iter():
        try:
            if process_owner(process) == me and _find(process.net_connections(kind="tcp"), peer, ours):
                return int(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue  # gone meanwhile, or not ours to look into
    return None


def runs_as_us(pid: int) -> bool:
    """Whether process ``pid`` runs as the daemon's OS user (a process we may not inspect does not)."""
    psutil = _psutil()
    try:
        return process_owner(psutil.Process(pid)) == own_owner()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def tcp_peer_pid(peer: Endpoint, ours: Endpoint) -> int | None:
    """The pid at the other end of a loopback TCP connection: from the system-wide table, or
    where only an administrator may read it, among the daemon's own user's processes."""
    psutil = _psutil()
    peer, ours = endpoint(peer), endpoint(ours)
    try:
        return system_peer_pid(peer, ours)
    except psutil.AccessDenied:
        return own_user_peer_pid(peer, ours)


def tcp_peer_is_ours(peer: Endpoint, ours: Endpoint) -> bool:
    """Whether the process at the other end of a loopback TCP connection runs as the daemon's user."""
    pid = tcp_peer_pid(peer, ours)
    return pid is not None and runs_as_us(pid)
