"""Floods against the running daemon: half-sent requests, refused requests by the thousand, a
VGCA socket that only answers pings. Health and the companion channel keep answering, the
daemon keeps its descriptors below the cap, and the audit log counts refusals instead of
writing a line each.

Most tests run the daemon in this process (``daemon_harness``), so the flood's client sockets
and the daemon's share one open-file limit: the test raises it first, as the daemon does at
start. One runs ``signer serve`` under an open-file limit it cannot raise."""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import os
import resource
import select
import signal
import socket
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from conftest import DevEnv
from daemon_harness import RunningDaemon
from heavy_pdfs import scanned
from http_client import call
from test_audit_log import audit, config_with_state
from test_serve_cli import daemon_config, start

PAGE = "http://127.0.0.1:5173"
EVIL, OTHER = "https://evil.example", "https://other.example"
HALF_OPEN = 2000
PER_PEER = 256  # connections_per_peer (the default, set here so that the test says it)


def raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        assert hard == resource.RLIM_INFINITY or hard >= needed, f"this test needs {needed} open files (hard {hard})"
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@contextmanager
def half_open(port: int, count: int, head: bytes) -> Iterator[list[socket.socket]]:
    """``count`` connections to ``port`` that each sent ``head`` (never a whole request) and stay
    open on this side; the daemon may close its end of any of them."""
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.settimeout(10)
            sock.connect(("127.0.0.1", port))
            try:
                sock.sendall(head)
            except OSError:
                pass  # already closed by the daemon to make room: it still holds this side's descriptor
            sockets.append(sock)
        yield sockets


def served_connections(port: int, pid: int | None = None) -> int:
    """Connections the daemon (process ``pid``, default this one) holds a descriptor for on its
    listener ``port``."""
    return sum(1 for c in psutil.Process(pid).net_connections(kind="tcp")
               if c.laddr and c.laddr.port == port and c.raddr and c.fd != -1)


def closed_by_daemon(sock: socket.socket) -> bool:
    """The daemon's end is closed: end of stream (after a TLS alert, say) or a reset."""
    sock.settimeout(5)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


async def companion_status(state: Path) -> dict[str, Any]:
    """A status request over the companion's own channel, as the tray sends it."""
    address = json.loads((state / "companion.json").read_text())
    secret = (state / "companion.secret").read_text().strip()
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=address["unix"])) as session, \
            session.ws_connect("http://companion/v1/channel", headers={"Authorization": f"Bearer {secret}"}) as ws:
        await ws.send_str(json.dumps({"type": "request", "id": "flood", "what": "status"}))
        while True:
            message = json.loads((await ws.receive(timeout=10)).data)
            if message.get("type") == "reply":
                return message


def test_half_sent_requests_do_not_starve_health_or_the_companion(dev_env: DevEnv, tmp_path: Path) -> None:
    raise_open_files(2 * HALF_OPEN + 1024)
    with RunningDaemon(dev_env.signer_config, tmp_path, limits={
            "connections_per_peer": PER_PEER, "request_head_timeout_s": 15}) as daemon:
        http_port, https_port = daemon.listening.http_port, daemon.listening.https_port
        partial = f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{http_port}\r\nX-Slow: a".encode()
        hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"  # the start of a TLS ClientHello
        with half_open(http_port, HALF_OPEN * 3 // 4, partial) as plain, \
                half_open(https_port, HALF_OPEN // 4, hello) as handshaking:
            assert len(plain) + len(handshaking) == HALF_OPEN
            health = call("GET", f"{daemon.url}/v1/health", timeout=10)
            assert health.status == 200, health.body
            secure = call("GET", f"{daemon.tls_url}/v1/health", cafile=str(daemon.tls.ca_cert), timeout=10)
            assert secure.status == 200, secure.body
            # accepted after the whole flood: both listeners together now hold one address's share
            assert served_connections(http_port) + served_connections(https_port) <= PER_PEER
            reply = asyncio.run(companion_status(daemon.settings.server.state_dir))
            assert reply["data"]["running"] is True, reply

            # past the head deadline the daemon has closed every half-sent request
            deadline = time.monotonic() + 120
            while served_connections(http_port) + served_connections(https_port):
                assert time.monotonic() < deadline, "half-sent requests outlived their head deadline"
                time.sleep(0.5)
            assert sum(closed_by_daemon(s) for s in plain + handshaking) == HALF_OPEN
        assert call("GET", f"{daemon.url}/v1/health", timeout=10).status == 200


def test_a_daemon_short_of_descriptors_keeps_room_for_health(dev_env: DevEnv, tmp_path: Path) -> None:
    """``signer serve`` whose open-file limit cannot be raised (600, soft and hard): 1,100
    half-sent requests once took every descriptor and health timed out. The connections now
    stay below the limit less the reserve, the oldest half-sent one making room."""
    raise_open_files(HALF_OPEN + 1024)
    config = daemon_config(dev_env, tmp_path)
    config.write_text(config.read_text() + "\n[limits]\nconnections_per_peer = 1024\nrequest_head_timeout_s = 60\n")
    process, http_port, _ = start(config, dev_env, preexec_fn=lambda: resource.setrlimit(
        resource.RLIMIT_NOFILE, (600, 600)))
    try:
        partial = f"POST /v1/sign/pdf HTTP/1.1\r\nHost: 127.0.0.1:{http_port}\r\nContent-Le".encode()
        with half_open(http_port, 1100, partial):
            health = call("GET", f"http://127.0.0.1:{http_port}/v1/health", timeout=10)
            assert health.status == 200, health.body
            reply = asyncio.run(companion_status(tmp_path / "state"))
            assert reply["data"]["running"] is True, reply
            assert served_connections(http_port, process.pid) <= 600 - 128, "the reserve is kept (fd_reserve)"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_signed_document_read_slowly_arrives_whole_while_a_flood_makes_room(dev_env: DevEnv,
                                                                              tmp_path: Path) -> None:
    """A page's signed document is still on its way (the page reads it slowly) while a flood of
    half-sent requests takes the address's every connection: the connection writing the reply is
    busy, not one to close to make room, and the document arrives whole."""
    document = scanned(12)
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(PAGE,), pregranted=(PAGE,),
                       unattended=(PAGE,), limits={"connections_per_peer": 8, "request_head_timeout_s": 120}) as daemon:
        port = daemon.listening.http_port
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the reply waits in the daemon, not here
        slow.settimeout(120)
        slow.connect(("127.0.0.1", port))
        page = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        page.sock = slow
        page.request("POST", "/v1/sign/pdf", body=document, headers={"Origin": PAGE, "Content-Type": "application/pdf"})
        reply = page.getresponse()  # its head: the route has answered, the document is being written
        assert reply.status == 200
        partial = f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: a".encode()
        with half_open(port, 64, partial) as flood:
            assert len(flood) == 64
            deadline = time.monotonic() + 60  # the flood made room 56 times over: those ends are closed
            while len(select.select(flood, [], [], 0)[0]) < len(flood) - 8:
                assert time.monotonic() < deadline, "the flood's connections were not closed to make room"
                time.sleep(0.1)
            signed = bytearray()
            while chunk := reply.read(65536):  # only now, while the flood holds its connections
                signed += chunk
        page.close()
    assert len(signed) > len(document) and signed.startswith(document), "the signed document arrived whole"
    assert signed.rstrip().endswith(b"%%EOF")


def test_busy_connections_refuse_a_new_one_and_count_it(dev_env: DevEnv, tmp_path: Path) -> None:
    """When every connection of an address has a request in progress, a new one is closed at
    once (there is no idle one to make room) and audited as a refused connection."""
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(PAGE,), limits={
            "connections_per_peer": 3, "vgca_first_frame_s": 120}) as daemon:
        async def scenario() -> tuple[list[str], int]:
            context = ssl.create_default_context(cafile=str(daemon.tls.ca_cert))
            url = f"wss://127.0.0.1:{daemon.listening.https_port}/Auth"
            async with aiohttp.ClientSession() as session:
                # three VGCA sockets waiting for their frame: three requests in progress
                sockets = [await session.ws_connect(url, ssl=context, headers={"Origin": PAGE}) for _ in range(3)]
                refused = []
                for _ in range(2):
                    try:
                        reply = await asyncio.to_thread(call, "GET", f"{daemon.url}/v1/health", timeout=10)
                        refused.append(f"answered {reply.status}")
                    except (ConnectionError, OSError) as exc:  # closed before any reply
                        refused.append(type(exc).__name__)
                await sockets[0].close()
                deadline = time.monotonic() + 60
                while served_connections(daemon.listening.https_port) > 2:
                    assert time.monotonic() < deadline, "the closed socket's connection stayed"
                    await asyncio.sleep(0.1)
                after = await asyncio.to_thread(call, "GET", f"{daemon.url}/v1/health", timeout=10)
                for ws in sockets[1:]:
                    await ws.close()
                return refused, after.status

        refused, after = asyncio.run(scenario())
        assert not [r for r in refused if r.startswith("answered")], refused
        assert after == 200, "a connection ended: there is room again"
        assert not [line for line in daemon.audit_lines() if line["result"] == "BUSY"], "its window is open"
    counted = [line for line in daemon.audit_lines() if line["result"] == "BUSY"]
    assert [(line["origin"], line["operation"], line["peer"], line["count"]) for line in counted] == [
        ("absent", "connect", "127.0.0.1", 2)]  # the window's line, written as the daemon stopped


def test_a_refused_flood_is_audited_as_counts(dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = config_with_state(dev_env, tmp_path)
    sent: Counter[tuple[str, str]] = Counter()  # (the line's origin, the reply's code) -> replies

    def flood(origin: str | None, count: int, headers: dict[str, str]) -> None:
        """``count`` requests on one kept-alive connection, each reply's code tallied."""
        conn = http.client.HTTPConnection("127.0.0.1", daemon.listening.http_port, timeout=10)
        for _ in range(count):
            conn.request("GET", "/v1/tokens", headers=headers)
            response = conn.getresponse()
            code = json.loads(response.read())["code"]
            sent[origin or "absent", code] += 1
        conn.close()

    with RunningDaemon(config, tmp_path, allow_origins=(PAGE,), limits={"refusal_window_s": 60}) as daemon:
        assert daemon.settings.server.state_dir == state
        started = time.monotonic()
        flood(EVIL, 1, {"Origin": EVIL})
        assert daemon.audit_lines() == [], "a window's line is written when it closes"
        flood(EVIL, 3000, {"Origin": EVIL})
        flood(OTHER, 500, {"Origin": OTHER})
        flood(None, 500, {})  # a local program without the API token
        during = daemon.audit_lines()
        ended = math.floor((time.monotonic() - started) / 60)  # windows that can have ended by then, per key
    # the daemon has stopped: the open windows' lines were written then
    lines = daemon.audit_lines()
    assert len(during) <= len(sent) * ended, "at most one line per origin and code per minute while it lasts"
    assert {code for _, code in sent} <= {"ORIGIN_NOT_ALLOWED", "AUTH_REQUIRED", "RATE_LIMITED"}
    assert sum(sent.values()) == 4001
    for (origin, code), replies in sent.items():
        mine = [line for line in lines if (line["origin"], line["result"]) == (origin, code)]
        assert 1 <= len(mine) <= ended + 1 and all(line["operation"] == "GET /v1/tokens" for line in mine)
        assert all(line["window_s"] is not None and 0 < line["window_s"] <= 60 for line in mine)
        assert sum(line["count"] for line in mine) == replies, (origin, code)
        # without an Origin, the line names the peer: the kernel's owner of this process's sockets
        assert all(line["peer"] == (None if origin != "absent" else f"uid {os.getuid()}") for line in mine)
    assert len(lines) < 20

    check = audit(config, dev_env, "--check")
    assert check.returncode == 0 and "intact" in check.stdout, check.stdout + check.stderr
    shown = audit(config, dev_env)
    assert shown.returncode == 0, shown.stderr
    assert any(" GET /v1/tokens " in row and row.rstrip().endswith(" s") and f" {EVIL} ×" in row
               for row in shown.stdout.splitlines()), shown.stdout


def test_a_window_s_line_is_written_when_it_closes(dev_env: DevEnv, tmp_path: Path) -> None:
    """Refusals and then none: the window's one line is written when it ends, not at the next
    refusal nor only when the daemon stops; refusals for several operations are named ``refused``."""
    window = 10
    with RunningDaemon(dev_env.signer_config, tmp_path, limits={"refusal_window_s": window}) as daemon:
        conn = http.client.HTTPConnection("127.0.0.1", daemon.listening.http_port, timeout=10)
        for path in ("/v1/tokens", "/v1/tokens", "/v1/certificates"):
            conn.request("GET", path, headers={"Origin": EVIL})
            assert json.loads(conn.getresponse().read())["code"] == "ORIGIN_NOT_ALLOWED"
        conn.close()
        assert daemon.audit_lines() == [], "the window is open"
        lines = daemon.audit_settled(1, timeout=120)
        assert [(line["origin"], line["operation"], line["result"], line["count"], line["window_s"])
                for line in lines] == [(EVIL, "refused", "ORIGIN_NOT_ALLOWED", 3, window)]
    assert len(daemon.audit_lines()) == 1, "nothing more to write as the daemon stops"


def test_varying_the_origin_does_not_bring_a_line_per_request_back(dev_env: DevEnv, tmp_path: Path) -> None:
    origins = [f"https://{n}.evil.example" for n in range(400)]
    with RunningDaemon(dev_env.signer_config, tmp_path, limits={
            "peer_rate_per_second": 10000, "peer_rate_burst": 10000}) as daemon:
        conn = http.client.HTTPConnection("127.0.0.1", daemon.listening.http_port, timeout=10)
        for origin in origins:
            conn.request("GET", "/v1/tokens", headers={"Origin": origin})
            response = conn.getresponse()
            assert json.loads(response.read())["code"] == "ORIGIN_NOT_ALLOWED"
        conn.close()
    lines = daemon.audit_lines()
    windows = 256  # open windows at most (signer.service.trail.MAX_WINDOWS)
    assert [line["origin"] for line in lines[:windows]] == origins[:windows]
    assert all(line["count"] == 1 for line in lines[:windows])
    assert [(line["origin"], line["operation"], line["count"]) for line in lines[windows:]] == [
        ("others", "GET /v1/tokens", len(origins) - windows)]
    assert sum(line["count"] for line in lines) == len(origins)


@pytest.fixture
def vgca_daemon(dev_env: DevEnv, tmp_path: Path) -> Iterator[RunningDaemon]:
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(PAGE,), limits={
            "ws_heartbeat_s": 0.5, "vgca_first_frame_s": 3, "vgca_control_frames_per_s": 20}) as running:
        yield running


def test_pings_do_not_extend_the_first_frame_deadline(vgca_daemon: RunningDaemon) -> None:
    daemon = vgca_daemon

    async def answer_pings_only() -> tuple[int, aiohttp.WSMsgType]:
        context = ssl.create_default_context(cafile=str(daemon.tls.ca_cert))
        pings = 0
        # one deadline for the whole wait: receive(timeout) would start again after each ping
        async with asyncio.timeout(60), aiohttp.ClientSession() as session, \
                session.ws_connect(f"wss://127.0.0.1:{daemon.listening.https_port}/SignApproved", ssl=context,
                                   headers={"Origin": PAGE}, autoping=False) as ws:
            while True:
                message = await ws.receive()
                if message.type != aiohttp.WSMsgType.PING:
                    return pings, message.type
                pings += 1
                await ws.pong(message.data)

    pings, ended = asyncio.run(answer_pings_only())
    assert ended in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), ended
    assert pings >= 2, "the daemon pinged, and was answered, before it closed the socket"
    line = daemon.audit_settled(1)[-1]
    assert (line["operation"], line["result"]) == ("GET /SignApproved", "TIMEOUT")


def test_a_ping_flood_closes_the_socket(vgca_daemon: RunningDaemon) -> None:
    daemon = vgca_daemon

    async def flood() -> int | None:
        context = ssl.create_default_context(cafile=str(daemon.tls.ca_cert))
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(f"wss://127.0.0.1:{daemon.listening.https_port}/Auth", ssl=context,
                                   headers={"Origin": PAGE}) as ws:
            for _ in range(200):
                try:
                    await ws.ping()
                except ConnectionError:
                    break
            message = await ws.receive(timeout=60)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
            return ws.close_code

    assert asyncio.run(flood()) == aiohttp.WSCloseCode.POLICY_VIOLATION
    line = daemon.audit_settled(1)[-1]
    assert (line["operation"], line["result"]) == ("GET /Auth", "RATE_LIMITED")
