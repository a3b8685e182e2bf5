"""Who is at the other end of a local connection: served only when the peer process runs as
the daemon's own OS user.

Loopback is shared by every user of the machine, and an ``Origin`` header is any program's
word. The operating system knows who owns the peer's socket: on Linux, a TCP peer's socket is
the row of ``/proc/net/tcp`` (or ``tcp6``) whose local end is the peer's address and whose
remote end is ours, with the owner's uid in it; a Unix-socket peer is told by ``SO_PEERCRED``
(``LOCAL_PEERCRED`` on macOS). Windows and macOS are asked through psutil
(``signer.security.psutil_peers``). A peer that cannot be found (it went away, or its socket
has no owner any more) is refused. Where the system offers no way to tell (psutil missing
there), connections are served and a warning is logged once.

The peer found is also whom the per-peer request limit counts (``Peer.name``): the process
where psutil names it; the OS user on Linux, whose tables name a socket's owner but no
process (finding the process would mean reading every process's descriptors per connection);
the address where nothing tells.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import os
import socket
import struct
import sys
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ..logs import get_logger
from . import psutil_peers
from .endpoints import Endpoint, endpoint, plain

log = get_logger(__name__)

ByteOrder = Literal["little", "big"]
# how peers are told apart: the kernel's own tables (Linux), psutil, or not at all
Strategy = Literal["kernel", "psutil", "unchecked"]
PROC_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
# macOS and the BSDs (<sys/un.h>): SOL_LOCAL, LOCAL_PEERCRED, and struct xucred's size
# (u_int version, uid_t uid, short ngroups, gid_t groups[16])
SOL_LOCAL, LOCAL_PEERCRED, XUCRED_SIZE = 0, 1, 76


@dataclass(frozen=True)
class TcpSocket:
    """One row of ``/proc/net/tcp``/``tcp6``."""

    local: Endpoint
    remote: Endpoint
    uid: int
    inode: int  # 0: no process holds the socket any more (closing, TIME_WAIT)


def parse_proc_net_tcp(text: str, byteorder: ByteOrder = sys.byteorder, *,
                       local_port: int | None = None) -> Iterator[TcpSocket]:
    """The rows of a ``/proc/net/tcp`` or ``tcp6`` table; ``byteorder`` is the kernel's, in
    which each 32-bit word of an address is printed. ``local_port``: skip, before parsing, the
    rows that do not name that port at either end (a busy machine has thousands of rows)."""
    marker = None if local_port is None else f":{local_port:04X} "
    for line in text.splitlines()[1:]:
        if marker is not None and marker not in line:
            continue
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            yield TcpSocket(local=_endpoint(fields[1], byteorder), remote=_endpoint(fields[2], byteorder),
                            uid=int(fields[7]), inode=int(fields[9]))
        except ValueError:
            continue


def _endpoint(text: str, byteorder: ByteOrder) -> Endpoint:
    address, port = text.split(":")
    if len(address) not in (8, 32):
        raise ValueError(text)
    packed = b"".join(int(address[i:i + 8], 16).to_bytes(4, byteorder) for i in range(0, len(address), 8))
    return plain(ipaddress.ip_address(packed)), int(port, 16)


def owner_uid(rows: Iterable[TcpSocket], peer: Endpoint, ours: Endpoint) -> int | None:
    """The uid owning the peer's end of the connection ``peer`` → ``ours``, if a process holds it."""
    peer, ours = (plain(peer[0]), peer[1]), (plain(ours[0]), ours[1])
    for row in rows:
        if row.local == peer and row.remote == ours and row.inode:
            return row.uid
    return None


def tcp_peer_uid(peer: Endpoint, ours: Endpoint) -> int | None:
    """The uid of the process at the other end of a loopback TCP connection (Linux)."""
    for table in PROC_TABLES:
        try:
            with open(table, encoding="ascii") as file:
                uid = owner_uid(parse_proc_net_tcp(file.read(), local_port=peer[1]), peer, ours)
        except OSError:
            continue  # no IPv6 in this kernel
        if uid is not None:
            return uid
    return None


def unix_peer_uid(sock: Any) -> int:
    """The uid of the process at the other end of a Unix socket."""
    if hasattr(socket, "SO_PEERCRED"):  # Linux
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                              struct.calcsize("3i")))
        return int(uid)
    _version, uid = struct.unpack_from("2I", sock.getsockopt(SOL_LOCAL, LOCAL_PEERCRED, XUCRED_SIZE))
    return int(uid)


def default_strategy() -> Strategy:
    """Linux reads the kernel's tables; other systems ask psutil where it is installed."""
    if sys.platform.startswith("linux") and hasattr(socket, "SO_PEERCRED"):
        return "kernel"
    if importlib.util.find_spec("psutil") is not None:  # found, not imported: that waits for a peer
        return "psutil"
    return "unchecked"


@dataclass(frozen=True)
class Peer:
    """The other end of a connection as the system names it, and whether it runs as our OS user."""

    name: str  # "pid 4242" (psutil), "uid 1000" (Linux's tables, a Unix socket), else the address
    ours: bool


GONE = Peer("gone", ours=False)  # the connection ended before its peer was looked up


class PeerGate:
    """Each connection's peer, found once and kept while the connection lives."""

    def __init__(self, strategy: Strategy | None = None) -> None:
        """``strategy``: how peers are told apart (default: what this system offers)."""
        self.strategy: Strategy = strategy or default_strategy()
        self.enforced = self.strategy != "unchecked"
        self.uid = os.geteuid() if hasattr(os, "geteuid") else None  # a Unix-socket peer's, to compare
        self._peers: weakref.WeakKeyDictionary[asyncio.BaseTransport, Peer] = weakref.WeakKeyDictionary()
        if not self.enforced:
            log.warning("peer_user_unchecked", reason="this system does not tell who owns a local connection "
                        "(psutil is not installed); any local user's program may call the daemon")

    async def allows(self, transport: asyncio.BaseTransport | None) -> bool:
        return (await self.peer(transport)).ours

    async def peer(self, transport: asyncio.BaseTransport | None) -> Peer:
        if transport is None:  # the connection is already gone
            return GONE
        if not self.enforced:
            return Peer(_address(transport), ours=True)
        peer = self._peers.get(transport)
        if peer is None:
            # the system's connection table can be long on a shared machine: read it off the event loop
            peer = await asyncio.to_thread(self._find, transport)
            self._peers[transport] = peer
        return peer

    def _find(self, transport: asyncio.BaseTransport) -> Peer:
        address = Peer(_address(transport), ours=False)  # what is left when the system names no one
        try:
            return self._owner(transport) or address
        except (OSError, ValueError):
            return address

    def _owner(self, transport: asyncio.BaseTransport) -> Peer | None:
        sock = transport.get_extra_info("socket")
        if sock is None:
            return None
        if sock.family == getattr(socket, "AF_UNIX", None):
            uid = unix_peer_uid(sock)
            return Peer(f"uid {uid}", uid == self.uid)
        peer, ours = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        if not peer or not ours:
            return None
        if self.strategy == "kernel":
            found = tcp_peer_uid(endpoint(peer), endpoint(ours))
            return None if found is None else Peer(f"uid {found}", found == self.uid)
        pid = psutil_peers.tcp_peer_pid(endpoint(peer), endpoint(ours))
        return None if pid is None else Peer(f"pid {pid}", psutil_peers.runs_as_us(pid))


def _address(transport: asyncio.BaseTransport) -> str:
    """The peer's address as text (a Unix socket has none worth naming)."""
    peername = transport.get_extra_info("peername")
    if isinstance(peername, tuple | list) and peername:
        try:
            return str(endpoint(peername)[0])
        except ValueError:
            return str(peername[0])
    return "local"
