"""Network waits a person may sit through, made known when they run long.

The code that waits for an authority (an OCSP responder, a CRL distribution point, a
timestamp authority) marks the wait with ``waiting``; a command on a terminal hears of every
wait still running after ``SLOW_S`` through ``announce``, and of nothing that ends sooner.
The daemon announces nothing: its waits end in a reply, and its log says what was asked.
Everything runs on the caller's event loop (a timer on it, no thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

REVOCATION, TIMESTAMP = "revocation", "timestamp"
SLOW_S = 1.0  # an answer within this is not worth a line


@dataclass(frozen=True)
class Wait:
    kind: str  # REVOCATION or TIMESTAMP
    url: str  # the address asked
    limit_s: float  # the longest the wait may last


Listener = Callable[[Wait], None]
_listener: ContextVar[Listener | None] = ContextVar("wait_listener", default=None)


@contextmanager
def waiting(wait: Wait) -> Iterator[None]:
    """Inside a coroutine: the listener hears of ``wait`` if it is still running after ``SLOW_S``."""
    listener = _listener.get()
    if listener is None:
        yield
        return
    timer = asyncio.get_running_loop().call_later(SLOW_S, listener, wait)
    try:
        yield
    finally:
        timer.cancel()


@contextmanager
def announce(listener: Listener) -> Iterator[None]:
    """Slow waits of the work done inside (on an event loop started inside, too) go to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
