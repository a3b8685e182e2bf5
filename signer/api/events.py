"""GET /v1/events: tokens arriving and leaving, as Server-Sent Events, for an allowed origin.

First ``present`` (what is plugged in now), then ``arrived`` and ``left`` as they happen. An event
names the device (model from the catalogue, reader, USB id, ATR, the token's label) and never a
certificate or its holder: those stay behind the origin's consent (``/v1/certificates``)."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from ..keys.watch import TokenWatch
from .appkeys import WATCH, caller_of
from .batches import HEARTBEAT_S


async def token_events(request: web.Request) -> web.StreamResponse:
    watch = request.app[WATCH]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    if caller_of(request).origin is not None:  # sent before the CORS middleware sees the reply (origin checked)
        response.headers.update({"Access-Control-Allow-Origin": request.headers["Origin"], "Vary": "Origin"})
    await response.prepare(request)
    try:
        await _stream(response, watch)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the page went away
    return response


async def _stream(response: web.StreamResponse, watch: TokenWatch) -> None:
    """Until the watchers stop (the daemon does)."""
    async with watch.listen() as changes:
        present = {"tokens": [c.as_message() for c in watch.connected()], "watchers": watch.watching(),
                   "unavailable": sorted(watch.unavailable)}
        await _send(response, "present", present)
        ended = asyncio.ensure_future(watch.ended.wait())
        try:
            while not ended.done():
                getting = asyncio.ensure_future(changes.get())
                done, _ = await asyncio.wait({getting, ended}, timeout=HEARTBEAT_S,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getting in done:
                    change = getting.result()
                    await _send(response, change.kind, change.as_message())
                    continue
                getting.cancel()
                if not done:
                    await response.write(b": watching\n\n")
        finally:
            ended.cancel()


async def _send(response: web.StreamResponse, event: str, data: dict) -> None:
    await response.write(f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode())
