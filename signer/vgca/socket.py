"""The VGCA transport: one WebSocket per call on the https listener, one frame in, one out.

The page waits (up to about five minutes) while the official consents and types the
PIN; pings keep the socket alive. If the page closes the socket first, the work is
cancelled; an upload already under way still completes, so no half file is left.

The request frame must come within ``vgca_first_frame_s`` of the upgrade, under one deadline
that pings and pongs do not move (aiohttp's ``receive(timeout)`` starts its timeout again
after each control frame it answers or takes, so a client that only answers pings would
hold the socket for ever). Pings are answered here rather than by aiohttp, so that they are
counted: a socket sending more than ``vgca_control_frames_per_s`` pings and pongs is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from .. import __version__
from ..api import appkeys as keys
from ..api.appkeys import caller_of
from ..api.policy import PUBLIC, STREAM, with_policy
from ..errors import Code, SignerError
from ..security.rate import RateLimiter
from . import adapter, status
from .call import Call, Parts

CONTROL = (WSMsgType.PING, WSMsgType.PONG)


class TooManyFrames(Exception):
    """The page sent pings or pongs faster than a socket may."""


async def vgca_socket(request: web.Request) -> web.StreamResponse:
    limits, caller = request.app[keys.LIMITS], caller_of(request)
    if not request.secure:
        raise SignerError(Code.NOT_FOUND, "the VGCA protocol is served on the https port (wss://)",
                          vi="giao thức VGCA được phục vụ qua cổng https (wss://)")
    socket = web.WebSocketResponse(heartbeat=limits.ws_heartbeat_s, max_msg_size=limits.max_body_bytes,
                                   autoping=False)
    if not socket.can_prepare(request).ok:
        raise SignerError(Code.BAD_REQUEST, "a WebSocket upgrade is expected", vi="cần yêu cầu nâng cấp lên WebSocket")
    await socket.prepare(request)
    control = RateLimiter(limits.vgca_control_frames_per_s, limits.vgca_control_frames_per_s)
    try:
        async with asyncio.timeout(limits.vgca_first_frame_s):
            message = await _next_message(socket, control)
    except TimeoutError:
        caller.outcome = "TIMEOUT"
        await socket.close()
        return socket
    except TooManyFrames:
        caller.outcome = Code.RATE_LIMITED
        await socket.close(code=WSCloseCode.POLICY_VIOLATION)
        return socket
    if message.type != WSMsgType.TEXT:
        caller.outcome = "CLIENT_GONE" if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED) else "BAD_REQUEST"
        await socket.close()
        return socket
    call = Call(parts=_parts(request.app), caller=caller, path=request.path.lstrip("/"))
    work = asyncio.create_task(adapter.handle(call, message.data))
    watcher = asyncio.create_task(_next_message(socket, control))  # sees the page closing; answers pings
    try:
        done, _ = await asyncio.wait({work, watcher}, timeout=limits.vgca_timeout_s,
                                     return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            reply = work.result()
            caller.outcome = reply.get("Code", "OK") if isinstance(reply, dict) else "OK"
            await socket.send_str(json.dumps(reply, ensure_ascii=False))
        elif watcher in done:
            flooded = isinstance(watcher.exception(), TooManyFrames)
            caller.outcome = Code.RATE_LIMITED if flooded else "CLIENT_GONE"
            if flooded:
                await socket.close(code=WSCloseCode.POLICY_VIOLATION)
        else:
            caller.outcome = "TIMEOUT"
            await socket.send_str(json.dumps(status.failure(SignerError(Code.TIMEOUT, "no answer in time",
                                                                        vi="không nhận được trả lời kịp thời")),
                                             ensure_ascii=False))
    finally:
        # whatever happened, no work outlives the socket (an upload under way still ends whole)
        for task in (work, watcher):
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await socket.close()
    return socket


async def _next_message(socket: web.WebSocketResponse, control: RateLimiter) -> WSMessage:
    """The next frame that is not a ping or pong; pings are answered on the way."""
    while True:
        message = await socket.receive()
        if message.type not in CONTROL:
            return message
        if not control.allow("control"):
            raise TooManyFrames
        if message.type == WSMsgType.PING:
            await socket.pong(message.data)


async def service_page(request: web.Request) -> web.Response:
    """``GET /``: people open it to accept the certificate; it says the service runs."""
    tokens = [t for t in await asyncio.to_thread(request.app[keys.KEYS].tokens) if t.flags.initialized]
    facts = {"service": "vn-token-signer", "version": __version__, "status": "running",
             "tokens_present": len(tokens)}
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response(facts)
    body = (
        "<!doctype html><html lang=vi><meta charset=utf-8><title>vn-token-signer</title>"
        "<h1>Dịch vụ ký số đang chạy</h1><p>The signing service is running.</p>"
        f"<p>Phiên bản / version {html.escape(__version__)} · token: {len(tokens)}</p></html>"
    )
    return web.Response(text=body, content_type="text/html")


def _parts(app: web.Application) -> Parts:
    return Parts(service=app[keys.SERVICE], batches=app[keys.BATCHES], keys=app[keys.KEYS], trust=app[keys.TRUST],
                 limits=app[keys.LIMITS], allowlist=app[keys.ALLOWLIST], settings=app[keys.SETTINGS],
                 audit=app[keys.AUDIT])


_socket = with_policy(vgca_socket, STREAM)
ROUTES = [web.get("/", with_policy(service_page, PUBLIC)),
          *(web.get(f"/{path}", _socket) for path in sorted(adapter.HANDLERS))]
