"""/v1/batches: create (multipart, repeated ``file`` fields), status, progress events,
signed documents, cancel, resume. A batch belongs to the origin that created it. A signed
document is kept until it was fetched whole, and a batch until it expires (the manager's
retention)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import BodyPartReader
from aiohttp.web_request import BaseRequest

from ..errors import Code, SignerError
from .appkeys import BATCHES, caller_of
from .body import FIELD_LIMIT, MAX_FIELDS, drop_pin_fields
from .replies import json_reply

CHUNK = 256 * 1024
HEARTBEAT_S = 15  # an SSE comment keeps proxies and the page's EventSource from timing out


async def create(request: web.Request) -> web.Response:
    batches, caller = request.app[BATCHES], caller_of(request)
    if not request.content_type.startswith("multipart/"):
        raise SignerError(Code.BAD_REQUEST, "send the documents as multipart/form-data with repeated 'file' fields",
                          vi="hãy gửi các văn bản dưới dạng multipart/form-data, mỗi văn bản một trường 'file'")
    options = dict(request.query)
    batch = None
    started = False
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise SignerError(Code.BAD_REQUEST, "nested multipart is not supported",
                                  vi="không hỗ trợ multipart lồng nhau")
            if part.name == "file":
                if batch is None:  # options come first (query or fields before the files)
                    drop_pin_fields(options, caller)
                    batch = batches.begin(caller, options)
                await batches.intake.add_document(batch, part.filename or "", _chunks(part))
            elif part.name:
                if batch is not None:
                    raise SignerError(Code.BAD_REQUEST, f"option field {part.name!r} after the files",
                                      vi=f"trường tùy chọn {part.name!r} nằm sau các tệp")
                if len(options) >= MAX_FIELDS:
                    raise SignerError(Code.BAD_REQUEST, f"more than {MAX_FIELDS} form fields",
                                      vi=f"quá {MAX_FIELDS} trường biểu mẫu")
                value = await part.read(decode=True)
                if len(value) > FIELD_LIMIT:
                    raise SignerError(Code.BAD_REQUEST, f"field {part.name!r} is too long",
                                      vi=f"trường {part.name!r} quá dài")
                options[part.name] = value.decode("utf-8", "replace")
        if batch is None:
            raise SignerError(Code.BAD_REQUEST, "a batch needs at least one 'file'",
                              vi="một lô cần có ít nhất một trường 'file'")
        batches.start(batch)
        started = True
    except (ValueError, AssertionError, UnicodeDecodeError, HttpProcessingError) as exc:
        raise SignerError(Code.BAD_REQUEST, f"malformed multipart body ({type(exc).__name__})",
                          vi=f"nội dung multipart sai định dạng ({type(exc).__name__})") from None
    finally:
        if batch is not None and not started:  # nothing half-received stays on disk
            batches.discard(batch)
    caller.audit.update(document_size=sum(i.size for i in batch.items))
    return json_reply({"id": batch.id, "total": len(batch.items)}, status=201)


async def _chunks(part: BodyPartReader):
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


async def status(request: web.Request) -> web.Response:
    return json_reply(_batch(request).summary())


async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: one ``item`` event per document as it settles, then ``batch``."""
    batch = _batch(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    origin = caller_of(request).origin
    if origin is not None:  # sent before the CORS middleware sees the reply: its headers go on here (origin checked)
        response.headers.update({"Access-Control-Allow-Origin": request.headers["Origin"], "Vary": "Origin"})
    await response.prepare(request)
    stream = request.app[BATCHES].events(batch)
    pending: asyncio.Future | None = None
    try:
        while True:
            pending = pending or asyncio.ensure_future(anext(stream, None))
            done, _ = await asyncio.wait({pending}, timeout=HEARTBEAT_S)
            if not done:
                await response.write(b": still working\n\n")
                continue
            event, pending = pending.result(), None
            if event is None:
                break
            data = json.dumps(event, ensure_ascii=False)
            await response.write(f"event: {event['event']}\ndata: {data}\n\n".encode())
        await response.write_eof()
    finally:  # the page went away: stop listening
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        await stream.aclose()
    return response


async def item(request: web.Request) -> web.StreamResponse:
    batch = _batch(request)
    try:
        index = int(request.match_info["index"])
    except ValueError:
        raise SignerError(Code.NOT_FOUND, "no such item", vi="không có văn bản này trong lô") from None
    batches = request.app[BATCHES]
    path = batches.output(batch, index)
    name = batch.items[index].name.rsplit(".", 1)[0] + "-signed.pdf"
    disposition = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
    return _Fetch(path, lambda: batches.fetched(batch, index),
                  headers={"Content-Type": "application/pdf", "Content-Disposition": disposition})


class _Fetch(web.FileResponse):
    """A signed document; once sent whole (not a HEAD, a range or a cut connection) the
    batch is told, and the next sweep deletes it."""

    def __init__(self, path: Path, on_sent: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self._on_sent = on_sent

    async def prepare(self, request: BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:  # sent already by the connection middleware; aiohttp's FileResponse would send it again
            return None
        writer = await super().prepare(request)
        if request.method == "GET" and self.status == 200:
            self._on_sent()
        return writer


async def cancel(request: web.Request) -> web.Response:
    batch = _batch(request)
    request.app[BATCHES].cancel(batch)
    return json_reply(batch.summary(), status=202)


async def resume(request: web.Request) -> web.Response:
    batch = _batch(request)
    request.app[BATCHES].resume(batch)
    return json_reply(batch.summary(), status=202)


def _batch(request: web.Request):
    return request.app[BATCHES].find(request.match_info["id"], caller_of(request))
