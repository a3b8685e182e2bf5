"""Who is at the other end of a local connection: served only when the peer process runs as
the daemon's own OS user.

Loopback is shared by every user of the machine, and an ``Origin`` header is any program's
word. The operating system knows who owns the peer's socket: on Linux, a TCP peer's socket is
the row of ``/proc/net/tcp`` (or ``tcp6``) whose local end is the peer's address and whose
remote end is ours, with the owner's uid in it; a Unix-socket peer is told by ``SO_PEERCRED``.
A peer that cannot be found (it went away, or its socket has no owner any more) is refused.
Where the system offers no way to tell, connections are served and a warning is logged once.
"""

from __future__ import annotations

import asyncio
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

log = get_logger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Endpoint = tuple[IPAddress, int]
ByteOrder = Literal["little", "big"]
PROC_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


@dataclass(frozen=True)
class TcpSocket:
    """One row of ``/proc/net/tcp``/``tcp6``."""

    local: Endpoint
    remote: Endpoint
    uid: int
    inode: int  # 0: no process holds the socket any more (closing, TIME_WAIT)


def parse_proc_net_tcp(text: str, byteorder: ByteOrder = sys.byteorder) -> Iterator[TcpSocket]:
    """The rows of a ``/proc/net/tcp`` or ``tcp6`` table; ``byteorder`` is the kernel's, in
    which each 32-bit word of an address is printed."""
    for line in text.splitlines()[1:]:
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
    return _plain(ipaddress.ip_address(packed)), int(port, 16)


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def owner_uid(rows: Iterable[TcpSocket], peer: Endpoint, ours: Endpoint) -> int | None:
    """The uid owning the peer's end of the connection ``peer`` → ``ours``, if a process holds it."""
    peer, ours = (_plain(peer[0]), peer[1]), (_plain(ours[0]), ours[1])
    for row in rows:
        if row.local == peer and row.remote == ours and row.inode:
            return row.uid
    return None


def endpoint(address: Any) -> Endpoint:
    """A socket address as Python gives it (``(host, port)`` or ``(host, port, flow, scope)``)."""
    return _plain(ipaddress.ip_address(str(address[0]).split("%", 1)[0])), int(address[1])


def tcp_peer_uid(peer: Endpoint, ours: Endpoint) -> int | None:
    """The uid of the process at the other end of a loopback TCP connection (Linux)."""
    for table in PROC_TABLES:
        try:
            with open(table, encoding="ascii") as file:
                uid = owner_uid(parse_proc_net_tcp(file.read()), peer, ours)
        except OSError:
            continue  # no IPv6 in this kernel
        if uid is not None:
            return uid
    return None


def unix_peer_uid(sock: Any) -> int:
    """The uid of the process at the other end of a Unix socket (Linux ``SO_PEERCRED``)."""
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))
    return int(uid)


def peer_uid(transport: asyncio.BaseTransport) -> int | None:
    """The uid owning the peer of an accepted connection; None if it cannot be found."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    if sock.family == socket.AF_UNIX:
        return unix_peer_uid(sock)
    peer, ours = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
    if not peer or not ours:
        return None
    return tcp_peer_uid(endpoint(peer), endpoint(ours))


def can_tell() -> bool:
    """Whether this system tells who owns a peer's socket (``/proc/net`` and ``SO_PEERCRED``)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_PEERCRED")


class PeerGate:
    """Each connection's verdict, found once and kept while the connection lives."""

    def __init__(self) -> None:
        self.enforced = can_tell()
        self.uid = os.geteuid() if self.enforced else None
        self._verdicts: weakref.WeakKeyDictionary[asyncio.BaseTransport, bool] = weakref.WeakKeyDictionary()
        if not self.enforced:
            log.warning("peer_user_unchecked", reason="this system does not tell who owns a local connection; "
                        "any local user's program may call the daemon")

    async def allows(self, transport: asyncio.BaseTransport | None) -> bool:
        if not self.enforced:
            return True
        if transport is None:  # the connection is already gone
            return False
        verdict = self._verdicts.get(transport)
        if verdict is None:
            # the kernel's table can be long on a shared machine: read it off the event loop
            verdict = await asyncio.to_thread(self._same_user, transport)
            self._verdicts[transport] = verdict
        return verdict

    def _same_user(self, transport: asyncio.BaseTransport) -> bool:
        try:
            return peer_uid(transport) == self.uid
        except (OSError, ValueError):
            return False
