"""The aiohttp application: the daemon's parts under typed keys, the routes, and the
middlewares around them (``signer.api.middlewares``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress

from aiohttp import web

from .api import appkeys as keys
from .api.middlewares import MIDDLEWARES
from .api.routes import ROUTES
from .daemon import Daemon
from .security.connections import ConnectionGuard
from .service.token_events import follow_tokens
from .vgca import socket as vgca


def create_app(daemon: Daemon, connections: ConnectionGuard) -> web.Application:
    """The application, holding each part of the daemon under its own typed key, and the
    listeners' ``connections``."""
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=daemon.limits.max_body_bytes)
    signing = daemon.signing
    app[keys.SETTINGS] = daemon.settings
    app[keys.LIMITS] = daemon.limits
    app[keys.ALLOWLIST] = daemon.allowlist
    app[keys.API_TOKEN] = daemon.api_token
    app[keys.RATE] = daemon.rate
    app[keys.PEER_RATE] = daemon.peer_rate
    app[keys.PEERS] = daemon.peers
    app[keys.CONNECTIONS] = connections
    app[keys.REFUSALS] = daemon.refusals
    app[keys.PORTS] = daemon.ports
    app[keys.AUDIT] = signing.audit
    app[keys.SERVICE] = signing.service
    app[keys.BATCHES] = signing.batches
    app[keys.KEYS] = signing.keys
    app[keys.TRUST] = signing.trust
    app[keys.STARTED] = daemon.started
    app[keys.WATCH] = signing.watch
    app.add_routes(ROUTES)
    app.add_routes(vgca.ROUTES)
    app.on_startup.append(_resume_batches)
    app.cleanup_ctx.append(_watch_tokens)
    app.on_shutdown.append(_stop_batches)
    app.on_shutdown.append(_end_token_events)
    app.on_cleanup.append(_count_refusals)
    app.on_shutdown.append(_stop_documents)  # before in-flight requests are waited for
    return app


async def _resume_batches(app: web.Application) -> None:
    app[keys.BATCHES].resume_all()


async def _watch_tokens(app: web.Application) -> AsyncIterator[None]:
    """The watchers run while the daemon does; their changes are followed (audit, batches)."""
    watch = app[keys.WATCH]
    watch.start()
    following = asyncio.create_task(follow_tokens(watch, app[keys.AUDIT], app[keys.BATCHES]))
    yield
    following.cancel()
    with suppress(asyncio.CancelledError):
        await following
    await watch.stop()


async def _end_token_events(app: web.Application) -> None:
    app[keys.WATCH].ended.set()  # the pages' event streams end, before in-flight requests are waited for


async def _stop_batches(app: web.Application) -> None:
    await app[keys.BATCHES].stop()


async def _count_refusals(app: web.Application) -> None:
    app[keys.REFUSALS].flush()  # the requests have ended: the open windows' counts are final


async def _stop_documents(app: web.Application) -> None:
    app[keys.SERVICE].documents.drain()
