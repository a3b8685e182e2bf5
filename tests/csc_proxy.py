"""A loopback HTTP proxy in front of a CSC service that counts the calls it is sent and can add a
delay each way (a service far away). A service that does not answer behind it is passed on as
no answer: the caller's connection is closed without a reply, as a stopped service's would be.

    python tests/csc_proxy.py UPSTREAM_URL PORT DELAY_S

``GET /proxy/calls`` answers how many calls of each CSC method it was sent; ``GET /proxy/busy``
the seconds during which the service had at least one of them to answer (the delays not
counted; calls out at once counted once); ``GET /proxy/log`` each call's method and hashes in
order. ``POST /proxy/fault`` ({"method": M, "fault": F}) spoils the next call of M: "lose"
forwards it and loses the answer (the connection closed instead), "refuse" answers HTTP 400
``invalid_request`` without forwarding it. Tests and
``bench/remote_batch.py`` run it as its own process (``Proxy``), so that it takes no time
from the process being measured.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import TracebackType

import aiohttp
from aiohttp import web
from http_client import call

START_S = 30.0
PER_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding"}  # the proxy's own


class Busy:
    """The time during which at least one call is at the service."""

    def __init__(self) -> None:
        self.total, self.out, self.since = 0.0, 0, 0.0

    def begin(self) -> None:
        if self.out == 0:
            self.since = time.monotonic()
        self.out += 1

    def end(self) -> None:
        self.out -= 1
        if self.out == 0:
            self.total += time.monotonic() - self.since

    def seconds(self) -> float:
        return self.total + (time.monotonic() - self.since if self.out else 0.0)


def serve(upstream: str, port: int, delay_s: float) -> None:
    calls: Counter[str] = Counter()
    busy = Busy()
    log: list[tuple[str, list[str] | None]] = []
    faults: dict[str, str] = {}

    async def forward(request: web.Request) -> web.StreamResponse:
        method = request.path.split("/csc/", 1)[-1].split("/", 1)[-1]  # "credentials/authorize"
        calls[method] += 1
        body = await request.read()
        sent = json.loads(body) if body and request.content_type == "application/json" else {}
        log.append((method, sent.get("hash", sent.get("hashes"))))  # v1 names them "hash", v2 "hashes"
        fault = faults.pop(method, None)
        await asyncio.sleep(delay_s)
        if fault == "refuse":
            return web.json_response({"error": "invalid_request", "error_description": "refused by the proxy"},
                                     status=400)
        busy.begin()
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in PER_HOP}
            async with request.app["session"].post(upstream + request.path_qs, data=body, headers=headers) as answer:
                data, status, kind = await answer.read(), answer.status, answer.content_type
        except aiohttp.ClientConnectionError:
            busy.end()
            assert request.transport is not None
            request.transport.abort()  # no answer, as from the stopped service itself
            return web.Response(status=502)  # never sent: the connection is gone
        busy.end()
        await asyncio.sleep(delay_s)
        if fault == "lose":
            assert request.transport is not None
            request.transport.abort()  # the service did the work; its answer never comes
        return web.Response(body=data, status=status, content_type=kind)

    async def counted(_: web.Request) -> web.Response:
        return web.json_response(dict(calls))

    async def worked(_: web.Request) -> web.Response:
        return web.json_response(busy.seconds())

    async def logged(_: web.Request) -> web.Response:
        return web.json_response(log)

    async def spoil(request: web.Request) -> web.Response:
        fault = await request.json()
        faults[fault["method"]] = fault["fault"]
        return web.json_response({})

    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        app["session"] = aiohttp.ClientSession(trust_env=False)
        yield
        await app["session"].close()

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.cleanup_ctx.append(session)
    app.add_routes([web.get("/proxy/calls", counted), web.get("/proxy/log", logged),
                    web.get("/proxy/busy", worked), web.post("/proxy/fault", spoil),
                    web.post("/{tail:.*}", forward)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class Proxy:
    """The proxy as a process of its own: ``url`` to call instead of the service, ``calls()``."""

    def __init__(self, upstream: str, port: int, delay_s: float = 0.0, log: Path | None = None) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self._command = [sys.executable, str(Path(__file__).resolve()), upstream, str(port), str(delay_s)]
        self._log = log
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> Proxy:
        output = self._log.open("wb") if self._log else subprocess.DEVNULL
        self._process = subprocess.Popen(self._command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_S
        while True:
            assert self._process.poll() is None, "the proxy stopped"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                assert time.monotonic() < deadline, "the proxy did not listen"
                time.sleep(0.05)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        assert self._process is not None
        self._process.terminate()
        self._process.wait(30)

    def calls(self) -> Counter[str]:
        return Counter(call("GET", f"{self.url}/proxy/calls").json())

    def busy(self) -> float:
        """Seconds the service had calls to answer (the proxy's delays not counted)."""
        return float(call("GET", f"{self.url}/proxy/busy").json())

    def log(self) -> list[tuple[str, list[str] | None]]:
        """Each call's method and the hashes it carried (base64), in order."""
        return [(method, hashes) for method, hashes in call("GET", f"{self.url}/proxy/log").json()]

    def fault(self, method: str, fault: str) -> None:
        """The next call of ``method``: its answer lost ("lose") or refused ("refuse")."""
        done = call("POST", f"{self.url}/proxy/fault", headers={"Content-Type": "application/json"},
                    body=json.dumps({"method": method, "fault": fault}).encode())
        assert done.status == 200, done.body


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
