"""Running the daemon: the http and https listeners on loopback (their connections counted and
limited together, within the open-file limit raised at start), and a graceful stop."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from .app import create_app
from .companion.channel import CompanionParts, companion_channel
from .daemon import Daemon
from .errors import Code
from .listeners import Bound, Listener
from .logs import get_logger
from .security.connections import ConnectionGuard
from .security.descriptors import connection_cap, raise_open_files_limit
from .service.caller import ABSENT
from .service.enrolling import Enrolment

log = get_logger(__name__)

CONNECT = "connect"  # the audit operation of a connection refused before any request


@dataclass(frozen=True)
class Listening:
    http_port: int
    https_port: int | None


async def run_daemon(
    daemon: Daemon,
    *,
    bound: Bound,
    ssl_context: ssl.SSLContext | None,
    stop: asyncio.Event,
    on_ready: Callable[[Listening], None] | None = None,
) -> None:
    """Serve on the ``bound`` sockets (their owner closes them) until ``stop`` is set; then stop
    accepting and let in-flight requests finish. The desktop companion's channel is served beside
    the listeners, never on them."""
    limits = daemon.limits
    open_files = raise_open_files_limit()
    connections = ConnectionGuard(total=connection_cap(limits.max_connections, open_files, limits.fd_reserve),
                                  per_peer=limits.connections_per_peer, head_timeout_s=limits.request_head_timeout_s)
    runner = web.AppRunner(create_app(daemon, connections), shutdown_timeout=limits.request_timeout_s,
                           access_log=None, handle_signals=False)
    await runner.setup()
    server = runner.server
    assert server is not None
    daemon.pin_prompts.loop = asyncio.get_running_loop()
    listeners: list[Listener] = []

    def listener(context: ssl.SSLContext | None) -> Listener:
        made = Listener(server, connections, ssl_context=context,
                        on_refused=lambda peer: daemon.refusals.note(ABSENT, CONNECT, Code.BUSY, peer=peer))
        listeners.append(made)
        return made

    # the channel outlives the listeners: a request in flight at shutdown may still need the official
    async with companion_channel(_companion_parts(daemon)):
        try:
            http_port = await listener(None).start(bound.http)
            https_port = None
            if bound.https is not None:
                assert ssl_context is not None, "an https socket needs its TLS context"
                https_port = await listener(ssl_context).start(bound.https)
            listening = Listening(http_port=http_port, https_port=https_port)
            daemon.ports.update(p for p in (listening.http_port, listening.https_port) if p)
            log.info("connection_limits", total=connections.total, per_peer=connections.per_peer,
                     open_files=open_files)
            if on_ready:
                on_ready(listening)
            await stop.wait()
        finally:
            for made in listeners:
                await made.stop()
            await runner.cleanup()


def _companion_parts(daemon: Daemon) -> CompanionParts:
    signing = daemon.signing
    return CompanionParts(settings=daemon.settings, limits=daemon.limits, prompts=daemon.prompts,
                          batches=signing.batches, keys=signing.keys, sessions=signing.service.sessions,
                          audit=signing.audit, consent_store=daemon.consent_store, allowlist=daemon.allowlist,
                          peers=daemon.peers, watch=signing.watch,
                          enrolment=Enrolment(signing.keys, daemon.prompts, signing.audit))
