"""The typed keys under which the application holds the daemon's parts, and the request's caller."""

from __future__ import annotations

from aiohttp import web

from policies.limits import Limits
from policies.origins import OriginAllowlist

from ..audit import AuditLog
from ..certificates import Trust
from ..config import Settings
from ..keys import KeyStore
from ..keys.watch import TokenWatch
from ..security.auth import ApiToken
from ..security.connections import ConnectionGuard
from ..security.peers import PeerGate
from ..security.rate import RateLimiter
from ..service.batches.manager import BatchManager
from ..service.caller import Caller
from ..service.signing import SigningService
from ..service.trail import Refusals

SETTINGS = web.AppKey("settings", Settings)
LIMITS = web.AppKey("limits", Limits)
ALLOWLIST = web.AppKey("allowlist", OriginAllowlist)
API_TOKEN = web.AppKey("api_token", ApiToken)
RATE = web.AppKey("rate", RateLimiter)
PEER_RATE = web.AppKey("peer_rate", RateLimiter)  # per peer, before the origin check
PEERS = web.AppKey("peers", PeerGate)
CONNECTIONS = web.AppKey("connections", ConnectionGuard)
REFUSALS = web.AppKey("refusals", Refusals)
PORTS = web.AppKey("ports", set[int])  # the listeners' ports, filled in once they are bound
AUDIT = web.AppKey("audit", AuditLog)
SERVICE = web.AppKey("service", SigningService)
BATCHES = web.AppKey("batches", BatchManager)
KEYS = web.AppKey("keys", KeyStore)
TRUST = web.AppKey("trust", Trust)
WATCH = web.AppKey("watch", TokenWatch)
STARTED = web.AppKey("started", float)  # time.monotonic() at start, for the uptime

CALLER = web.RequestKey("caller", Caller)
PEER = web.RequestKey("peer", str)  # the connection's peer as the peer gate named it


def caller_of(request: web.Request) -> Caller:
    return request[CALLER]
