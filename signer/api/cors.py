"""CORS for allowed origins only: the exact origin on every reply the page may read (errors
included), and the preflight reply (with Private Network Access) once the gates passed."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from .appkeys import CALLER

ALLOWED_REQUEST_HEADERS = {"content-type", "accept", "x-requested-with"}
EXPOSED_HEADERS = ("X-Signature-Field, X-Signer, X-Signing-Time, X-Document-SHA256, X-Signature-Level, "
                   "X-Signer-Warning, X-Document-Repaired-SHA256, X-Signature-Placed-By")


def is_preflight(request: web.Request) -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    caller = request.get(CALLER)  # set only once the Origin passed the allowlist (or there was none)
    if caller is not None and caller.is_browser and not response.prepared:  # a finished WebSocket has sent its headers
        add_cors(response, request.headers["Origin"])
    return response


@web.middleware
async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A preflight that passed the gates is answered here and reaches no route."""
    if not is_preflight(request):
        return await handler(request)
    response = web.Response(status=204)
    if not request[CALLER].is_browser:
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
