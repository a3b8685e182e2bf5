"""The port a listener really got (port 0 asks the system for a free one)."""

from __future__ import annotations

import asyncio

from aiohttp import web


def bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the asyncio server here; its socket knows the real port
    if not isinstance(server, asyncio.base_events.Server):
        raise RuntimeError("the site is not listening")
    port: int = server.sockets[0].getsockname()[1]
    return port
