"""Open connections on the page-facing listeners: how many, from which address, and how long
one may stay open without a request in progress.

A peer here is the remote address, all a listener knows when it accepts a connection. On
loopback that is every local program at once (the browser, a script, another user's process):
who owns the other end is found later, for the connection's first request, from the system's
tables (``signer.security.peers``), and reading those for every connection at accept would let
a flood of silent connections make the daemon read them thousands of times. So these limits do
not pick a program to refuse; they make room. A connection without a request in progress (it
sent nothing yet, half a request head, or sits idle between requests) is closed when its head
deadline passes, unless the end of its last reply is still being read (and read on), and the
oldest such connection of the address whose reply has gone out whole (for the total: of the
address holding the most connections) is closed to let a new one in. A request in progress
includes the writing of its reply (``signer.api.middlewares.connection``). A client that sends
its request at once (a browser, a health check) gets in whatever a flood of half-sent requests
holds; only when every connection is busy with a request is a new one refused.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(eq=False)
class Connection:
    peer: str  # the remote address
    close: Callable[[], object]  # ends it at once (nothing is in flight on a connection closed here)
    requests: int = 0  # requests in progress on it
    transport: asyncio.BaseTransport | None = None  # once connected (after a TLS handshake)
    deadline: asyncio.TimerHandle | None = field(default=None, repr=False)
    released: bool = False
    unsent: int = 0  # bytes of its reply still to go out, when its deadline last passed

    def sending(self) -> int:
        """Bytes of its last reply still buffered for the client (a reply is still being read)."""
        transport = self.transport
        return transport.get_write_buffer_size() if isinstance(transport, asyncio.WriteTransport) else 0


class ConnectionGuard:
    def __init__(self, total: int, per_peer: int, head_timeout_s: float) -> None:
        self.total = total
        self.per_peer = per_peer
        self.head_timeout_s = head_timeout_s
        self.open = 0
        self._counts: Counter[str] = Counter()
        self._idle: dict[str, dict[Connection, None]] = {}  # per address, oldest first
        self._by_transport: dict[asyncio.BaseTransport, Connection] = {}

    def admit(self, peer: str, close: Callable[[], object]) -> Connection | None:
        """A new connection from ``peer``, made room for if need be; None when every connection
        that could make room has a request in progress."""
        if self._counts[peer] >= self.per_peer and not self._evict(peer):
            return None
        if self.open >= self.total and not self._evict(self._fullest()):
            return None
        connection = Connection(peer, close)
        self._counts[peer] += 1
        self.open += 1
        self._rest(connection)
        return connection

    def connected(self, connection: Connection, transport: asyncio.BaseTransport, close: Callable[[], object]) -> None:
        """``connection`` now has its transport (a TLS handshake, if any, completed)."""
        if connection.released:
            close()
            return
        connection.transport, connection.close = transport, close
        self._by_transport[transport] = connection

    def release(self, connection: Connection) -> None:
        """``connection`` is closed (called again, nothing happens)."""
        if connection.released:
            return
        connection.released = True
        if connection.deadline is not None:
            connection.deadline.cancel()
        idle = self._idle.get(connection.peer, {})
        idle.pop(connection, None)
        if not idle:
            self._idle.pop(connection.peer, None)
        self._counts[connection.peer] -= 1
        if self._counts[connection.peer] <= 0:
            del self._counts[connection.peer]
        self.open -= 1
        if connection.transport is not None:
            self._by_transport.pop(connection.transport, None)

    @contextmanager
    def serving(self, transport: asyncio.BaseTransport | None) -> Iterator[None]:
        """While a request runs on ``transport``'s connection: no deadline, and never closed to
        make room."""
        connection = self._by_transport.get(transport) if transport is not None else None
        if connection is None:
            yield
            return
        connection.requests += 1
        self._unrest(connection)
        try:
            yield
        finally:
            connection.requests -= 1
            if not connection.requests and not connection.released:
                self._rest(connection)

    def _rest(self, connection: Connection) -> None:
        """No request in progress: the head deadline runs, and the connection may make room."""
        self._idle.setdefault(connection.peer, {})[connection] = None
        connection.unsent = 0
        self._arm(connection)

    def _arm(self, connection: Connection) -> None:
        loop = asyncio.get_running_loop()
        connection.deadline = loop.call_later(self.head_timeout_s, self._expire, connection)

    def _unrest(self, connection: Connection) -> None:
        if connection.deadline is not None:
            connection.deadline.cancel()
            connection.deadline = None
        idle = self._idle.get(connection.peer, {})
        idle.pop(connection, None)
        if not idle:
            self._idle.pop(connection.peer, None)

    def _expire(self, connection: Connection) -> None:
        if connection.requests:
            return
        unsent = connection.sending()
        if unsent and unsent != connection.unsent:  # the end of its reply is still being read: wait
            connection.unsent = unsent
            self._arm(connection)
            return
        self._close(connection)

    def _close(self, connection: Connection) -> None:
        self.release(connection)
        connection.close()

    def _evict(self, peer: str | None) -> bool:
        """Close the oldest idle connection of ``peer`` whose reply has gone out whole."""
        for connection in self._idle.get(peer, {}) if peer is not None else ():
            if not connection.sending():
                self._close(connection)
                return True
        return False

    def _fullest(self) -> str | None:
        """The address holding the most connections among those with one to spare."""
        spare = (peer for peer, idle in self._idle.items() if any(not c.sending() for c in idle))
        return max(spare, key=self._counts.__getitem__, default=None)
