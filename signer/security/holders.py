"""Which program listens on a local TCP port: named in the line that says a port is taken (the
official VGCA Sign Service on 8987, an older plugin, or another ``signer serve``).

On Linux the kernel's tables (``/proc/net/tcp``, ``tcp6``) give the listening socket's inode, and
the process is the one among whose descriptors (``/proc/PID/fd``) that socket is: readable for
this user's own processes (every process for root). Elsewhere psutil names it (the system-wide
table, or this user's processes where only an administrator may read that table). A program this
user may not look into is not named.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .peers import PROC_TABLES, Strategy, TcpSocket, default_strategy, parse_proc_net_tcp

SHOWN_ARGS = 3  # of the command line, after the program's own name
ARG_CHARS = 40  # an argument (a long path) is cut here


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str | None  # the program and its first arguments: "VGCASignService.exe", "python -m signer serve"

    def __str__(self) -> str:
        return f"{self.command} (pid {self.pid})" if self.command else f"pid {self.pid}"


def port_holder(port: int, strategy: Strategy | None = None) -> Holder | None:
    """The program listening on ``port``, where this user may see it."""
    strategy = strategy or default_strategy()
    try:
        if strategy == "kernel":
            return _from_proc(port)
        if strategy == "psutil":
            return _from_psutil(port)
    except (OSError, ValueError):
        return None  # the tables changed or were unreadable while read: nobody to name
    return None


def command_line(argv: list[str], name: str) -> str:
    """A short form of a command line: the program's file name and its first arguments."""
    if not argv:
        return name
    shown = [Path(argv[0]).name, *(" ".join(arg.split())[:ARG_CHARS] for arg in argv[1:1 + SHOWN_ARGS])]
    return " ".join(shown)


# -- Linux: the kernel's tables ------------------------------------------------


def listening_inodes(rows: Iterable[TcpSocket], port: int) -> Iterator[int]:
    """The inodes of the sockets listening on ``port`` (a listener has no remote end)."""
    for row in rows:
        if row.local[1] == port and row.remote[1] == 0 and row.inode:
            yield row.inode


def _from_proc(port: int) -> Holder | None:
    inodes: set[int] = set()
    for table in PROC_TABLES:
        try:
            with open(table, encoding="ascii") as file:
                inodes.update(listening_inodes(parse_proc_net_tcp(file.read(), local_port=port), port))
        except OSError:
            continue  # no IPv6 in this kernel
    if not inodes:
        return None
    pid = _pid_holding({f"socket:[{inode}]" for inode in inodes})
    if pid is None:
        return None
    proc = Path("/proc") / str(pid)
    argv = [arg for arg in (proc / "cmdline").read_bytes().decode(errors="replace").split("\0") if arg]
    return Holder(pid, command_line(argv, (proc / "comm").read_text(errors="replace").strip()))


def _pid_holding(links: set[str]) -> int | None:
    """The process one of whose descriptors is one of ``links`` (as ``readlink`` shows a socket)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            descriptors = os.scandir(f"/proc/{entry.name}/fd")
        except OSError:
            continue  # another user's process, or gone
        with descriptors:
            for descriptor in descriptors:
                try:
                    if os.readlink(descriptor.path) in links:
                        return int(entry.name)
                except OSError:
                    continue
    return None


# -- elsewhere: psutil -------------------------------------------------------------


def _from_psutil(port: int) -> Holder | None:
    import psutil

    pid = _psutil_listener(psutil, port)
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        return Holder(pid, command_line(process.cmdline(), process.name()))
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return Holder(pid, None)  # its pid is all this user may know of it


def _psutil_listener(psutil: Any, port: int) -> int | None:
    try:
        found = next(_listening(psutil.net_connections(kind="tcp"), port, psutil.CONN_LISTEN), None)
        return None if found is None or found.pid is None else int(found.pid)
    except psutil.AccessDenied:  # macOS: the system-wide table is root's; this user's own processes
        for process in psutil.process_iter():
            try:
                if next(_listening(process.net_connections(kind="tcp"), port, psutil.CONN_LISTEN), None):
                    return int(process.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return None


def _listening(connections: Iterable[Any], port: int, listen: str) -> Iterator[Any]:
    return (c for c in connections if c.status == listen and c.laddr and c.laddr[1] == port)
