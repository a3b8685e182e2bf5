"""The page-facing listeners: each accepts its connections itself, so that every connection is
counted, and has its head deadline, from the moment it is accepted (``signer.security.connections``).

What aiohttp's server offers, and what it does not: it closes a connection that is idle, or
still sending a request head, once ``keepalive_timeout`` passed since the connection began or
since its last reply (an hour by default), and bounds a head's lines (``max_line_size``,
``max_field_size``, ``max_headers``); it counts no connections, and it never sees a TLS
connection before its handshake completes (asyncio's server gives the handshake a minute by
default, and aiohttp's sites set no other). Here the guard counts a connection from its accept,
TLS handshake included, makes room or refuses before anything is read, and closes a connection
without a request in progress at its head deadline.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from .errors import Code, SignerError, os_reason_vi
from .logs import get_logger
from .security.connections import Connection, ConnectionGuard
from .security.endpoints import endpoint
from .security.holders import port_holder

log = get_logger(__name__)

LOOPBACK = "127.0.0.1"
BACKLOG = 128
ACCEPT_RETRY_S = 0.1  # an accept failed (e.g. out of descriptors): accept again after this
SOCKET_GONE = (errno.EBADF, errno.EINVAL)  # the listening socket is closed: nothing more to accept

ProtocolFactory = Callable[[], asyncio.Protocol]


class Tracked(asyncio.Protocol):
    """The application's protocol for one connection, with the guard told when it is made and lost."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard, connection: Connection) -> None:
        self._inner, self._guard, self._connection = inner, guard, connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._guard.connected(self._connection, transport, cast(asyncio.Transport, transport).abort)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.release(self._connection)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


@dataclass(frozen=True)
class Bound:
    """The page-facing sockets, bound before the daemon writes anything (its companion channel,
    its state): a port another program holds stops the start with nothing changed."""

    http: socket.socket
    https: socket.socket | None  # none: the native API on http only (``signer serve --no-tls``)

    def close(self) -> None:
        for sock in (self.http, self.https):
            if sock is not None:
                sock.close()


def bind_ports(http_port: int, tls_port: int | None) -> Bound:
    """Bind the https port (the VGCA protocol's, the one another signing service most likely holds)
    first, then the http port; ``tls_port`` None: no https."""
    https = None if tls_port is None else bind_loopback(tls_port, tls=True)
    try:
        return Bound(bind_loopback(http_port, tls=False), https)
    except BaseException:
        if https is not None:
            https.close()
        raise


def bind_loopback(port: int, *, tls: bool) -> socket.socket:
    """A listening socket on loopback ``port`` (0: any free port); a port in use is reported
    with the program holding it, where this user may see it."""
    try:
        sock = socket.create_server((LOOPBACK, port), backlog=BACKLOG)
    except OSError as exc:
        where = f"{LOOPBACK}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise SignerError(Code.PORT_IN_USE, where, holder=port_holder(port), tls=tls, vi=where) from None
        raise SignerError(Code.LISTEN_FAILED, f"{where}: {exc.strerror or exc}",
                          vi=f"{where}: {os_reason_vi(exc)}") from None
    sock.setblocking(False)
    return sock


class Listener:
    def __init__(self, protocol: ProtocolFactory, guard: ConnectionGuard, *, ssl_context: ssl.SSLContext | None,
                 on_refused: Callable[[str], None]) -> None:
        """``protocol``: the application's (aiohttp's server); ``on_refused``: told the address of
        each connection refused because every connection was busy."""
        self._protocol, self._guard, self._ssl = protocol, guard, ssl_context
        self._on_refused = on_refused
        self._socket: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connecting: set[asyncio.Task[bool]] = set()
        self._failing: set[int | None] = set()  # the errnos of accepts failing now, each logged once

    async def start(self, sock: socket.socket) -> int:
        """Accept on ``sock`` (``bind_loopback``'s, which this listener closes when it stops); its port."""
        self._socket = sock
        self._accepting = asyncio.create_task(self._accept(sock))
        bound: int = sock.getsockname()[1]
        return bound

    async def stop(self) -> None:
        """Accept no more, and end the connections still in their TLS handshake (the application
        closes the others)."""
        tasks = [t for t in (self._accepting, *self._connecting) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._socket is not None:
            self._socket.close()

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, address = await loop.sock_accept(sock)
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            except OSError as exc:
                if exc.errno in SOCKET_GONE:
                    raise
                # out of descriptors or memory, or anything else the system says: as asyncio's own
                # server, keep listening (a listener that stopped would be a silent outage)
                if exc.errno not in self._failing:  # one line when it starts, not one per attempt
                    log.warning("accept_failed", error=exc.strerror, errno=exc.errno)
                    self._failing.add(exc.errno)
                await asyncio.sleep(ACCEPT_RETRY_S)
                continue
            self._failing.clear()
            self._admit(conn, address)
            # an accept that finds a connection waiting does not yield: let the connections that
            # made room close (on the loop's next turn) before taking another descriptor
            await asyncio.sleep(0)

    def _admit(self, conn: socket.socket, address: object) -> None:
        peer = _peer(address)
        connection = self._guard.admit(peer, conn.close)
        if connection is None:
            conn.close()
            self._on_refused(peer)
            return
        task = asyncio.create_task(self._connect(conn, connection))
        connection.close = task.cancel  # until it is connected
        self._connecting.add(task)
        task.add_done_callback(functools.partial(self._settled, conn, connection))

    async def _connect(self, conn: socket.socket, connection: Connection) -> bool:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(
                lambda: Tracked(self._protocol(), self._guard, connection), conn, ssl=self._ssl,
                ssl_handshake_timeout=self._guard.head_timeout_s if self._ssl else None,
                ssl_shutdown_timeout=self._guard.head_timeout_s if self._ssl else None)
        except OSError:  # the TLS handshake failed, or the client went away
            return False
        return True

    def _settled(self, conn: socket.socket, connection: Connection, task: asyncio.Task[bool]) -> None:
        # here, not in the task: a task cancelled before it ran (it made room at once) runs no code
        self._connecting.discard(task)
        if not task.cancelled() and task.exception() is None and task.result():
            return
        if not task.cancelled() and task.exception() is not None:
            log.error("connection_failed", error=repr(task.exception()))
        conn.close()
        self._guard.release(connection)


def _peer(address: object) -> str:
    try:
        return str(endpoint(address)[0])
    except (ValueError, TypeError, IndexError):
        return str(address)
