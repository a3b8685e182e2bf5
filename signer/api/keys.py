"""A request app key for the daemon and the per-request caller."""

from __future__ import annotations

from aiohttp import web

from ..daemon import Daemon
from .caller import Caller

DAEMON = web.AppKey("daemon", Daemon)
CALLER = web.RequestKey("caller", Caller)


def daemon_of(request: web.Request) -> Daemon:
    return request.app[DAEMON]


def caller_of(request: web.Request) -> Caller:
    return request[CALLER]
