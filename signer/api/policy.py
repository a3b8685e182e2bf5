"""What a route asks of the middlewares, declared beside the route in its table.

The policy rides on the routed handler, so a middleware reads it from the route aiohttp
matched before the middlewares run; an unmatched request (404, 405) gets the default.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Handler

BodyLimit = Literal["request", "batch"]


@dataclass(frozen=True)
class RoutePolicy:
    public: bool = False  # no API token or Origin needed; without Origin only a typed address may read it
    stream: bool = False  # long-lived (a socket, progress events): no request timeout
    body_limit: BodyLimit = "request"  # "batch": streamed to disk, under the batch size limit


DEFAULT = RoutePolicy()
PUBLIC = RoutePolicy(public=True)
STREAM = RoutePolicy(stream=True)
BATCH_UPLOAD = RoutePolicy(body_limit="batch")

_ATTRIBUTE = "route_policy"


def with_policy(handler: Handler, policy: RoutePolicy) -> Handler:
    """``handler`` routed under ``policy`` (a new function: ``handler`` itself is left as it is)."""

    @functools.wraps(handler)
    async def routed(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    setattr(routed, _ATTRIBUTE, policy)
    return routed


def handler_policy(handler: object) -> RoutePolicy:
    policy: RoutePolicy = getattr(handler, _ATTRIBUTE, DEFAULT)
    return policy


def policy_of(request: web.Request) -> RoutePolicy:
    """The policy of the route ``request`` matched (the default for none)."""
    return handler_policy(request.match_info.route.handler)
