"""A page-facing listener on a real loopback socket keeps accepting after the system refuses an
accept for a passing reason (out of memory, a protocol error, a firewall's EPERM), logging each
kind once, and stops only when its socket is gone. The system's refusals are injected in front
of the event loop's real accept: none can be caused at will on a healthy machine."""

from __future__ import annotations

import asyncio
import errno
import socket

import structlog

from signer.listeners import Listener, bind_loopback
from signer.security.connections import ConnectionGuard


class Hello(asyncio.Protocol):
    """Says hello and hangs up: a connection was accepted and served."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(b"hello")
        transport.close()


def greeting(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        return sock.recv(16)


def refusing(loop: asyncio.AbstractEventLoop, refusals: list[OSError]) -> None:
    """The loop's next accepts fail with ``refusals``, in order; then they are real again."""
    accept = loop.sock_accept

    async def sock_accept(sock: socket.socket) -> tuple[socket.socket, object]:
        if refusals:
            raise refusals.pop(0)
        return await accept(sock)

    loop.sock_accept = sock_accept  # type: ignore[method-assign]


def listener() -> Listener:
    return Listener(Hello, ConnectionGuard(16, 16, 10), ssl_context=None, on_refused=lambda peer: None)


async def greet_through(refusals: list[OSError]) -> list[bytes]:
    """Start a listener whose first accepts fail with ``refusals``; greet it twice."""
    refusing(asyncio.get_running_loop(), refusals)
    listening = listener()
    port = await listening.start(bind_loopback(0, tls=False))
    try:
        return [await asyncio.to_thread(greeting, port) for _ in range(2)]
    finally:
        await listening.stop()


def test_a_passing_accept_failure_does_not_stop_the_listener() -> None:
    failures = [OSError(errno.ENOMEM, "Cannot allocate memory"), OSError(errno.EPROTO, "Protocol error"),
                OSError(errno.EPROTO, "Protocol error"), OSError(errno.EPERM, "Operation not permitted")]
    with structlog.testing.capture_logs() as logged:
        greetings = asyncio.run(greet_through(failures))
    assert greetings == [b"hello", b"hello"]
    assert not failures
    warned = [(line["event"], line["errno"]) for line in logged if line["log_level"] == "warning"]
    assert warned == [("accept_failed", errno.ENOMEM), ("accept_failed", errno.EPROTO),
                      ("accept_failed", errno.EPERM)], "each kind once, not once per attempt"


def test_a_closed_listening_socket_ends_the_listener() -> None:
    async def scenario() -> BaseException | None:
        refusing(asyncio.get_running_loop(), [OSError(errno.EBADF, "Bad file descriptor")])
        listening = listener()
        await listening.start(bind_loopback(0, tls=False))
        accepting = listening._accepting
        assert accepting is not None
        await asyncio.wait([accepting], timeout=10)
        error = accepting.exception() if accepting.done() else None
        await listening.stop()
        return error

    error = asyncio.run(scenario())
    assert isinstance(error, OSError) and error.errno == errno.EBADF
