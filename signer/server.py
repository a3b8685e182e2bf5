"""Running the daemon: the http and https listeners on loopback, and a graceful stop."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from .app import create_app
from .companion.channel import CompanionParts, companion_channel
from .daemon import Daemon
from .errors import Code, SignerError
from .sockets import bound_port

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Listening:
    http_port: int
    https_port: int | None


async def run_daemon(
    daemon: Daemon,
    *,
    port: int,
    tls_port: int | None,
    ssl_context: ssl.SSLContext | None,
    stop: asyncio.Event,
    on_ready: Callable[[Listening], None] | None = None,
) -> None:
    """Serve until ``stop`` is set; then stop accepting and let in-flight requests finish.
    The desktop companion's channel is served beside the listeners, never on them."""
    runner = web.AppRunner(create_app(daemon), shutdown_timeout=daemon.limits.request_timeout_s,
                           access_log=None, handle_signals=False)
    await runner.setup()
    daemon.pin_prompts.loop = asyncio.get_running_loop()
    # the channel outlives the listeners: a request in flight at shutdown may still need the official
    async with companion_channel(_companion_parts(daemon)):
        try:
            http = web.TCPSite(runner, LOOPBACK, port)
            await _start(http, port)
            https_port = None
            if ssl_context is not None and tls_port is not None:
                https = web.TCPSite(runner, LOOPBACK, tls_port, ssl_context=ssl_context)
                await _start(https, tls_port)
                https_port = bound_port(https)
            listening = Listening(http_port=bound_port(http), https_port=https_port)
            daemon.ports.update(p for p in (listening.http_port, listening.https_port) if p)
            if on_ready:
                on_ready(listening)
            await stop.wait()
        finally:
            await runner.cleanup()


async def _start(site: web.TCPSite, port: int) -> None:
    try:
        await site.start()
    except OSError as exc:
        raise SignerError(Code.LISTEN_FAILED, f"{LOOPBACK}:{port}: {exc.strerror or exc}") from None




def _companion_parts(daemon: Daemon) -> CompanionParts:
    signing = daemon.signing
    return CompanionParts(settings=daemon.settings, limits=daemon.limits, prompts=daemon.prompts,
                          batches=signing.batches, keys=signing.keys, sessions=signing.service.sessions,
                          audit=signing.audit, consent_store=daemon.consent_store, allowlist=daemon.allowlist,
                          peers=daemon.peers)
