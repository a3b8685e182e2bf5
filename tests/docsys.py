"""A stand-in document system on loopback: download and upload handlers as integrators write them.

Checks the session cookie and the bearer token, records every request and every
uploaded form, and serves back what was uploaded (so a clerk can sign what the
leader signed).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from aiohttp import web
from conftest import DOCUMENTS

SESSION = "phien-lam-viec-123"
JWT = "jwt.token.value"
GENERATED_BLOCK = 256 * 1024


@dataclass
class Upload:
    filename: str
    data: bytes
    fields: dict[str, str]


@dataclass
class DocumentSystem:
    host: str = "127.0.0.1"
    status_style: str = "number"  # "number" (0 = ok) or "bool"
    reject_uploads: bool = False
    requests: list[str] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    stored: dict[str, bytes] = field(default_factory=dict)
    port: int = 0
    slow_upload_s: float = 0.0  # the handler waits before reading the body
    generated_bytes: int = 0  # bytes written by /generated, all requests together

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes([
            web.get("/", self.page),
            web.get("/download/{name}", self.download),
            web.get("/slow/{name}", self.slow),
            web.get("/generated/{size}", self.generated),
            web.get("/redirect", self.redirect),
            web.post("/upload", self.upload),
        ])
        return app

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><meta charset=utf-8><title>Quản lý văn bản</title>",
                            content_type="text/html")

    def _authorised(self, request: web.Request) -> bool:
        return (request.cookies.get("SessionId") == SESSION
                and request.headers.get("Authorization") == f"Bearer {JWT}")

    async def download(self, request: web.Request) -> web.Response:
        self.requests.append(f"GET {request.path_qs}")
        if not self._authorised(request):
            return web.Response(status=401)
        name = request.match_info["name"]
        data = self.stored.get(name)
        if data is None:
            path = DOCUMENTS / name
            if not path.is_file():
                return web.Response(status=404)
            data = path.read_bytes()
        return web.Response(body=data, content_type="application/pdf",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def generated(self, request: web.Request) -> web.StreamResponse:
        """``size`` bytes made up as they are sent (the server holds one block, whatever the
        size); without a Content-Length unless ``?declare=1``."""
        self.requests.append(f"GET {request.path_qs}")
        if not self._authorised(request):
            return web.Response(status=401)
        size = int(request.match_info["size"])
        response = web.StreamResponse(headers={"Content-Type": "application/pdf"})
        if request.query.get("declare"):
            response.content_length = size
        await response.prepare(request)
        block = b"%PDF-1.7\n" + bytes(GENERATED_BLOCK - 9)
        sent = 0
        try:
            while sent < size:
                part = block[:min(GENERATED_BLOCK, size - sent)]
                await response.write(part)
                sent += len(part)
                self.generated_bytes += len(part)
            await response.write_eof()
        except ConnectionResetError:  # the daemon stopped reading: what the tests want to see
            pass
        return response

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return await self.download(request)

    async def redirect(self, request: web.Request) -> web.Response:
        self.requests.append(f"GET {request.path_qs}")
        raise web.HTTPFound(request.query["to"])

    async def upload(self, request: web.Request) -> web.Response:
        self.requests.append(f"POST {request.path_qs}")
        if not self._authorised(request):
            return web.json_response({"Status": 1, "Message": "not logged in"})
        if self.slow_upload_s:
            await asyncio.sleep(self.slow_upload_s)
        form = await request.post()
        file = form["uploadfile"]
        fields = {k: str(v) for k, v in form.items() if k != "uploadfile"}
        data = file.file.read()
        self.uploads.append(Upload(file.filename, data, fields))
        stored_name = f"signed-{len(self.uploads)}.pdf"
        self.stored[stored_name] = data
        if self.reject_uploads:
            ok = False if self.status_style == "bool" else 1
            return web.json_response({"Status": ok, "Message": "kho lưu trữ đầy"})
        ok = True if self.status_style == "bool" else 0
        return web.json_response({"Status": ok, "Message": "", "FileName": stored_name,
                                  "FileServer": {"id": len(self.uploads), "path": f"/files/{stored_name}"}})


class Running:
    """Serves a DocumentSystem on its own event loop in a thread."""

    def __init__(self, system: DocumentSystem) -> None:
        self.system = system
        self._started = threading.Event()

    def __enter__(self) -> DocumentSystem:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        assert self._started.wait(10)
        return self.system

    async def _serve(self) -> None:
        runner = web.AppRunner(self.system.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.system.host, self.system.port)
        await site.start()
        self.system.port = site._server.sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        await self._stop.wait()
        await runner.cleanup()

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
