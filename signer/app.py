"""The aiohttp application: security checks around every route, errors as JSON, audit lines.

Checks run in this order and a refused request does nothing else: peer address is
loopback; Host is ours; declared size fits; Origin is allowed (or, without Origin,
a local client presents the API token; a browser's state-changing request without
Origin is refused); rate limit. Consent and token queues are checked by the routes.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from policies.limits import Limits
from policies.origins import normalize_origin

from .api import appkeys as keys
from .api.appkeys import CALLER
from .api.replies import json_reply
from .api.routes import PUBLIC, ROUTES
from .daemon import Daemon
from .errors import SignerError
from .logs import get_logger
from .security.host import allow_host, is_loopback
from .service.caller import Caller
from .service.trail import record
from .vgca import socket as vgca

log = get_logger(__name__)

SAFE_METHODS = {"GET", "HEAD"}
ALLOWED_REQUEST_HEADERS = {"content-type", "accept", "x-requested-with"}
EXPOSED_HEADERS = "X-Signature-Field, X-Signer, X-Signing-Time, X-Document-SHA256, X-Signature-Level, X-Signer-Warning"
HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "TOO_LARGE"}


def create_app(daemon: Daemon) -> web.Application:
    """The application, holding each part of the daemon under its own typed key."""
    app = web.Application(middlewares=[guard], client_max_size=daemon.limits.max_body_bytes)
    signing = daemon.signing
    app[keys.SETTINGS] = daemon.settings
    app[keys.LIMITS] = daemon.limits
    app[keys.ALLOWLIST] = daemon.allowlist
    app[keys.API_TOKEN] = daemon.api_token
    app[keys.RATE] = daemon.rate
    app[keys.PORTS] = daemon.ports
    app[keys.AUDIT] = signing.audit
    app[keys.SERVICE] = signing.service
    app[keys.BATCHES] = signing.batches
    app[keys.KEYS] = signing.keys
    app[keys.TRUST] = signing.trust
    app[keys.STARTED] = daemon.started
    app.add_routes(ROUTES)
    app.add_routes(vgca.ROUTES)
    app.on_startup.append(_resume_batches)
    app.on_shutdown.append(_stop_batches)
    return app


async def _resume_batches(app: web.Application) -> None:
    app[keys.BATCHES].resume_all()


async def _stop_batches(app: web.Application) -> None:
    await app[keys.BATCHES].stop()


def _streams(request: web.Request) -> bool:
    """Long-lived by design: the VGCA socket (its own deadline) and batch progress events."""
    return request.path in vgca.SOCKET_PATHS or (request.path.startswith("/v1/batches/")
                                                 and request.path.endswith("/events"))


@web.middleware
async def guard(request: web.Request, handler) -> web.StreamResponse:
    app = request.app
    limits = app[keys.LIMITS]
    origin = request.headers.get("Origin")
    allowed_origin = None
    caller_name = (origin or "local")[:200]
    public = (request.method, request.path) in PUBLIC | vgca.PUBLIC
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    try:
        check_transport(request, limits, app[keys.PORTS])
        if origin is not None:
            if not app[keys.ALLOWLIST].allow_origin(origin):
                raise SignerError("ORIGIN_NOT_ALLOWED", origin[:200])
            allowed_origin = origin
            caller = Caller(origin=normalize_origin(origin))
        elif public:
            # a cross-site <img> or fetch(no-cors) sends no Origin: only a typed address may read these
            if request.headers.get("Sec-Fetch-Site", "none") != "none":
                raise SignerError("ORIGIN_NOT_ALLOWED", "a cross-site request without Origin")
            caller = Caller(origin=None, public=True)
        else:
            if request.method not in SAFE_METHODS and any(h.startswith("Sec-Fetch-") for h in request.headers):
                raise SignerError("ORIGIN_NOT_ALLOWED", "a browser request without Origin")
            if not app[keys.API_TOKEN].matches(request.headers.get("Authorization")):
                raise SignerError("AUTH_REQUIRED")
            caller = Caller(origin=None)
        caller_name = caller.name
        if not app[keys.RATE].allow("public" if caller.public else caller.name):
            raise SignerError("RATE_LIMITED")
        request[CALLER] = caller
        if preflight:
            response = preflight_response(request, allowed_origin)
        elif _streams(request):
            response = await handler(request)
        else:
            response = await asyncio.wait_for(handler(request), limits.request_timeout_s)
        result = "OK"
    except SignerError as error:
        response, result, caller = error_response(error, limits), error.code, request.get(CALLER)
    except web.HTTPException as exc:
        error = SignerError(HTTP_CODES.get(exc.status, "BAD_REQUEST"), exc.reason,
                            limit_mb=limits.max_body_mb)
        response, result, caller = error_response(error, limits), error.code, request.get(CALLER)
    except RequestPayloadError:  # a body that does not decode (e.g. a bad Content-Encoding)
        error = SignerError("BAD_REQUEST", "unreadable request body")
        response, result, caller = error_response(error, limits), error.code, request.get(CALLER)
    except TimeoutError:
        error = SignerError("TIMEOUT", f"{request.method} {request.path}")
        response, result, caller = error_response(error, limits), error.code, request.get(CALLER)
    except asyncio.CancelledError:  # the client went away: still one audit line
        _record(request, request.get(CALLER), caller_name, "CLIENT_GONE")
        raise
    except Exception:
        log.exception("internal_error", path=request.path)
        error = SignerError("INTERNAL_ERROR", "see the daemon's log")
        response, result, caller = error_response(error, limits), error.code, request.get(CALLER)
    if allowed_origin is not None and not response.prepared:  # a finished WebSocket has sent its headers
        add_cors(response, allowed_origin)
    if not ((public or preflight) and result == "OK"):
        _record(request, caller, caller_name, result)
    return response


def check_transport(request: web.Request, limits: Limits, ports: set[int]) -> None:
    if not is_loopback(request.remote):
        raise SignerError("NOT_LOOPBACK")
    if not allow_host(request.headers.get("Host"), ports):
        raise SignerError("HOST_NOT_ALLOWED", (request.headers.get("Host") or "(none)")[:100])
    declared = request.content_length
    batch = request.method == "POST" and request.path == "/v1/batches"  # streamed to disk, its own limit
    limit, limit_mb = ((limits.batch_max_bytes, limits.batch_max_mb) if batch
                       else (limits.max_body_bytes, limits.max_body_mb))
    if declared is not None and declared > limit:
        raise SignerError("TOO_LARGE", limit_mb=limit_mb)


def preflight_response(request: web.Request, origin: str | None) -> web.Response:
    response = web.Response(status=204)
    if origin is None:
        return response
    requested = request.headers.get("Access-Control-Request-Headers", "")
    headers = [h.strip() for h in requested.split(",") if h.strip().lower() in ALLOWED_REQUEST_HEADERS]
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE"
    if headers:
        response.headers["Access-Control-Allow-Headers"] = ", ".join(headers)
    response.headers["Access-Control-Max-Age"] = "600"
    if request.headers.get("Access-Control-Request-Private-Network") == "true":
        response.headers["Access-Control-Allow-Private-Network"] = "true"
    return response


def add_cors(response: web.StreamResponse, origin: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin  # exact, never "*"
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    response.headers["Vary"] = "Origin"


def error_response(error: SignerError, limits: Limits) -> web.Response:
    response = json_reply(error.as_dict(), status=error.http_status)
    if error.code in ("BUSY", "RATE_LIMITED"):
        response.headers["Retry-After"] = str(limits.busy_retry_after_s)
    return response


def _record(request: web.Request, caller: Caller | None, caller_name: str, result: str) -> None:
    record(request.app[keys.AUDIT], caller, f"{request.method} {request.path}", result, name=caller_name)
