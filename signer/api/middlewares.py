"""The middlewares around every route, one concern each; ``MIDDLEWARES`` is their order.

A request passes, outermost first: its connection marked busy (no head deadline, never closed
to make room: ``signer.security.connections``); the audit line (a refused request's counted,
``signer.service.trail.Refusals``); CORS headers (outside error mapping, so an allowed page can
read its error replies too); error mapping (every failure becomes the JSON error reply); the
gates (peer is loopback and of our OS user, within its request rate, Host is ours, declared size
fits; Origin on the allowlist, or the API token; the caller's rate limit), where a refused
request does nothing else; the preflight reply (only once the gates passed); the request
timeout. What a route needs of them (public, streamed, batch-sized) is its ``RoutePolicy``.
Consent and token queues are the routes'.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestPayloadError

from policies.limits import Limits
from policies.origins import normalize_origin

from ..errors import Code, SignerError
from ..logs import get_logger
from ..security.host import allow_host, is_loopback
from ..service.caller import ABSENT, WITH_API_TOKEN, Caller
from ..service.trail import record
from .appkeys import (
    ALLOWLIST,
    API_TOKEN,
    AUDIT,
    CALLER,
    CONNECTIONS,
    LIMITS,
    PEER,
    PEER_RATE,
    PEERS,
    PORTS,
    RATE,
    REFUSALS,
)
from .cors import cors, is_preflight, preflight
from .policy import BodyLimit, policy_of
from .replies import json_reply

log = get_logger(__name__)

SAFE_METHODS = {"GET", "HEAD"}
HTTP_CODES = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED, 413: Code.TOO_LARGE}

RESULT = web.RequestKey("result", str)  # the error code of the reply, for the audit line


@web.middleware
async def connection(request: web.Request, handler: Handler) -> web.StreamResponse:
    """While the request runs, and its reply is written, its connection has no head deadline and
    is not closed to make room. The reply is written here, not after the middlewares as aiohttp
    would: a connection marked idle while a signed document is still on its way could be closed."""
    guard = request.app[CONNECTIONS]
    with guard.serving(request.transport):
        response = await handler(request)
        try:
            # the reply is read within the head deadline, as a request head is sent within it
            async with asyncio.timeout(guard.head_timeout_s):
                if not response.prepared:
                    await response.prepare(request)
                await response.write_eof()
        except ConnectionError:
            pass  # the client went away: aiohttp's own ending of the reply sees it too
        except TimeoutError:
            if request.transport is not None:
                request.transport.abort()  # not read: end it (aiohttp then finds it closed)
        return response


@web.middleware
async def audit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One line per request, also when the client goes away; none for a public route or a
    preflight that went well."""
    try:
        response = await handler(request)
    except asyncio.CancelledError:
        _record(request, "CLIENT_GONE")
        raise
    result = request.get(RESULT, "OK")
    if not ((policy_of(request).public or is_preflight(request)) and result == "OK"):
        _record(request, result)
    return response


def _record(request: web.Request, result: str) -> None:
    # before a caller is established, the line names the Origin as sent, or what was presented
    origin = request.headers.get("Origin")
    if origin is not None:
        name = origin[:200]
    else:
        name = WITH_API_TOKEN if request.app[API_TOKEN].matches(request.headers.get("Authorization")) else ABSENT
    who, operation = request.get(CALLER), f"{request.method} {request.path}"
    if who is None or result == Code.RATE_LIMITED:
        # refused by the gates (or gone before them), or past a rate: counted, not a line each
        peer = None if origin is not None else request.get(PEER, request.remote or "gone")
        request.app[REFUSALS].note(who.name if who is not None else name, operation, result, peer=peer)
        return
    record(request.app[AUDIT], who, operation, result, name=name)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    limits = request.app[LIMITS]
    try:
        return await handler(request)
    except SignerError as exc:
        error = exc
    except web.HTTPException as exc:
        error = SignerError(HTTP_CODES.get(exc.status, Code.BAD_REQUEST), exc.reason, limit_mb=limits.max_body_mb,
                            vi=f"{request.method} {request.path} (HTTP {exc.status})")
    except RequestPayloadError:  # a body that does not decode (e.g. a bad Content-Encoding)
        error = SignerError(Code.BAD_REQUEST, "unreadable request body", vi="không đọc được nội dung yêu cầu")
    except TimeoutError:
        error = SignerError(Code.TIMEOUT, f"{request.method} {request.path}", vi=f"{request.method} {request.path}")
    except Exception:
        log.exception("internal_error", path=request.path)
        error = SignerError(Code.INTERNAL_ERROR, "see the daemon's log", vi="xem nhật ký của dịch vụ ký số")
    request[RESULT] = error.code
    response = error_response(error, limits)
    if error.code == Code.PEER_NOT_ALLOWED:
        response.force_close()  # one reply and one audit line per refused connection
    return response


def error_response(error: SignerError, limits: Limits) -> web.Response:
    response = json_reply(error.as_dict(), status=error.http_status)
    if error.code in (Code.BUSY, Code.RATE_LIMITED):
        response.headers["Retry-After"] = str(limits.busy_retry_after_s)
    elif error.code is Code.CONSENT_BACKOFF:
        response.headers["Retry-After"] = str(error.facts["retry_after_s"])
    return response


@web.middleware
async def transport(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Loopback peer of our own OS user within its request rate (before anything else is read
    of the request), our Host (against DNS rebinding), and a declared size within the route's
    limit."""
    ports: set[int] = request.app[PORTS]
    if not is_loopback(request.remote):
        raise SignerError(Code.NOT_LOOPBACK)
    peer = await request.app[PEERS].peer(request.transport)
    request[PEER] = peer.name
    if not peer.ours:
        raise SignerError(Code.PEER_NOT_ALLOWED)
    if not request.app[PEER_RATE].allow(peer.name):
        raise SignerError(Code.RATE_LIMITED)
    if not allow_host(request.headers.get("Host"), ports):
        raise SignerError(Code.HOST_NOT_ALLOWED, (request.headers.get("Host") or "(none)")[:100],
                          vi=(request.headers.get("Host") or "(không có)")[:100])
    limit, limit_mb = _body_limit(request.app[LIMITS], policy_of(request).body_limit)
    if request.content_length is not None and request.content_length > limit:
        raise SignerError(Code.TOO_LARGE, limit_mb=limit_mb)
    return await handler(request)


def _body_limit(limits: Limits, kind: BodyLimit) -> tuple[int, float]:
    if kind == "batch":
        return limits.batch_max_bytes, limits.batch_max_mb
    return limits.max_body_bytes, limits.max_body_mb


@web.middleware
async def caller(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Who calls: an allowed Origin (a browser); on a public route without Origin, a typed
    address; otherwise a local client with the API token."""
    origin = request.headers.get("Origin")
    if origin is not None:
        if not request.app[ALLOWLIST].allow_origin(origin):
            raise SignerError(Code.ORIGIN_NOT_ALLOWED, origin[:200], vi=origin[:200])
        request[CALLER] = Caller(origin=normalize_origin(origin))
    elif policy_of(request).public:
        # a cross-site <img> or fetch(no-cors) sends no Origin: only a typed address may read these
        if request.headers.get("Sec-Fetch-Site", "none") != "none":
            raise SignerError(Code.ORIGIN_NOT_ALLOWED, "a cross-site request without Origin",
                              vi="yêu cầu từ trang web khác không có tiêu đề Origin")
        request[CALLER] = Caller(origin=None, client=ABSENT, public=True)
    else:
        if request.method not in SAFE_METHODS and any(h.startswith("Sec-Fetch-") for h in request.headers):
            raise SignerError(Code.ORIGIN_NOT_ALLOWED, "a browser request without Origin",
                              vi="yêu cầu từ trình duyệt không có tiêu đề Origin")
        if not request.app[API_TOKEN].matches(request.headers.get("Authorization")):
            raise SignerError(Code.AUTH_REQUIRED)
        request[CALLER] = Caller(origin=None)
    return await handler(request)


@web.middleware
async def rate(request: web.Request, handler: Handler) -> web.StreamResponse:
    who = request[CALLER]
    if not request.app[RATE].allow("public" if who.public else who.name):
        raise SignerError(Code.RATE_LIMITED)
    return await handler(request)


@web.middleware
async def timeout(request: web.Request, handler: Handler) -> web.StreamResponse:
    if policy_of(request).stream:  # long-lived by design: the VGCA socket keeps its own deadline
        return await handler(request)
    return await asyncio.wait_for(handler(request), request.app[LIMITS].request_timeout_s)


MIDDLEWARES = (connection, audit, cors, errors, transport, caller, rate, preflight, timeout)
