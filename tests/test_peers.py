"""Only the daemon's own OS user: the kernel's word on who owns the peer's socket (and psutil's,
as Windows and macOS are asked), and the daemon refusing another user's program on every
listener, whatever Origin it sends.

The refusal tests create a second OS user (``signer-other``) and call the running daemon with
curl as that user through ``runuser``; they need root, as in CI.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path

import aiohttp
import psutil
import pytest
from conftest import DOCUMENTS, DevEnv
from daemon_harness import RunningDaemon

from signer.security import psutil_peers
from signer.security.peers import (
    PeerGate,
    default_strategy,
    endpoint,
    owner_uid,
    parse_proc_net_tcp,
    tcp_peer_uid,
    unix_peer_uid,
)

PAGE = "http://127.0.0.1:5173"
OTHER = "signer-other"
PDF = (DOCUMENTS / "libreoffice.pdf").read_bytes()

HEADER4 = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
HEADER6 = ("  sl  local_address                         remote_address                        st tx_queue rx_queue "
           "tr tm->when retrnsmt   uid  timeout inode\n")
# the daemon listening on 127.0.0.1:8986 (0x231A), a client of uid 1001 on port 0xA1B2, and the
# daemon's accepted end of that connection (uid 0), then an old connection in TIME_WAIT
TCP4 = HEADER4 + (
    "   0: 0100007F:231A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 "
    "0000000000000000 100 0 0 10 0\n"
    "   1: 0100007F:A1B2 0100007F:231A 01 00000000:00000000 00:00000000 00000000  1001        0 40961 1 "
    "0000000000000000 20 4 30 10 -1\n"
    "   2: 0100007F:231A 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 40962 1 "
    "0000000000000000 20 4 31 10 -1\n"
    "   3: 0100007F:C350 0100007F:231A 06 00000000:00000000 03:00000F9B 00000000     0        0 0 3 "
    "0000000000000000\n"
)
# ::1 port 0x9C40 (uid 1002) to ::1 port 8987 (0x231B); an IPv6 socket of uid 1003 that reached
# 127.0.0.1:8986 as ::ffff:127.0.0.1
TCP6 = HEADER6 + (
    "   0: 00000000000000000000000001000000:9C40 00000000000000000000000001000000:231B 01 00000000:00000000 "
    "00:00000000 00000000  1002        0 50001 1 0000000000000000 20 4 30 10 -1\n"
    "   1: 0000000000000000FFFF00000100007F:D431 0000000000000000FFFF00000100007F:231A 01 00000000:00000000 "
    "00:00000000 00000000  1003        0 50002 1 0000000000000000 20 4 30 10 -1\n"
)


def at(address: str, port: int) -> tuple:
    return ip_address(address), port


# -- the kernel's tables -------------------------------------------------------------------

def test_ipv4_rows_name_the_owner_of_the_peer_s_end() -> None:
    rows = list(parse_proc_net_tcp(TCP4, "little"))
    assert [r.uid for r in rows] == [0, 1001, 0, 0]
    assert rows[1].local == at("127.0.0.1", 0xA1B2) and rows[1].remote == at("127.0.0.1", 8986)
    assert owner_uid(rows, peer=at("127.0.0.1", 0xA1B2), ours=at("127.0.0.1", 8986)) == 1001
    # the direction matters: the other way round is the daemon's own end
    assert owner_uid(rows, peer=at("127.0.0.1", 8986), ours=at("127.0.0.1", 0xA1B2)) == 0
    assert owner_uid(rows, peer=at("127.0.0.1", 0xA1B3), ours=at("127.0.0.1", 8986)) is None
    # a socket no process holds any more (TIME_WAIT, uid 0 in the table) names nobody
    assert owner_uid(rows, peer=at("127.0.0.1", 0xC350), ours=at("127.0.0.1", 8986)) is None
    # only the rows of the peer's port are parsed (a busy machine has thousands): the same answer
    only = list(parse_proc_net_tcp(TCP4, "little", local_port=0xA1B2))
    assert [r.inode for r in only] == [40961, 40962]  # rows naming the port at either end; not the others
    assert owner_uid(only, peer=at("127.0.0.1", 0xA1B2), ours=at("127.0.0.1", 8986)) == 1001


def test_ipv6_rows_and_ipv4_mapped_addresses() -> None:
    rows = list(parse_proc_net_tcp(TCP6, "little"))
    assert rows[0].local == at("::1", 0x9C40) and rows[1].local == at("127.0.0.1", 0xD431)
    assert owner_uid(rows, peer=at("::1", 0x9C40), ours=at("::1", 8987)) == 1002
    assert owner_uid(rows, peer=at("127.0.0.1", 0xD431), ours=at("127.0.0.1", 8986)) == 1003
    assert owner_uid(rows, peer=at("::ffff:127.0.0.1", 0xD431), ours=at("127.0.0.1", 8986)) == 1003
    assert endpoint(("::ffff:127.0.0.1", 53297, 0, 0)) == at("127.0.0.1", 53297)
    assert endpoint(("fe80::1%lo", 1, 0, 1)) == at("fe80::1", 1)


def test_words_follow_the_kernel_s_byte_order_and_junk_is_skipped() -> None:
    big = HEADER4 + ("   0: 7F000001:A1B2 7F000001:231A 01 00000000:00000000 00:00000000 00000000  1001 "
                     "       0 40961 1\n")
    assert owner_uid(parse_proc_net_tcp(big, "big"), at("127.0.0.1", 0xA1B2), at("127.0.0.1", 8986)) == 1001
    junk = HEADER4 + "   0: 7F0001:A1B2 7F000001:231A 01 x x x x 1001 0 1\n   1: short\n"
    assert list(parse_proc_net_tcp(junk, "big")) == []


def test_this_machine_s_table_names_our_own_connections() -> None:
    """Real sockets: a loopback connection and a Unix socket pair of this process's user."""
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as client:
        accepted, _ = server.accept()
        with accepted:
            peer, ours = endpoint(accepted.getpeername()), endpoint(accepted.getsockname())
            assert tcp_peer_uid(peer, ours) == os.geteuid()
            assert tcp_peer_uid((peer[0], peer[1]), (ours[0], ours[1] ^ 1)) is None
            assert endpoint(client.getsockname()) == peer
    left, right = socket.socketpair()
    with left, right:
        assert unix_peer_uid(left) == os.geteuid()


# -- another OS user against the running daemon ---------------------------------------------

@pytest.fixture(scope="module")
def other_user() -> str:
    if os.geteuid() != 0:
        pytest.skip("creating a second OS user and running a program as it needs root")
    if subprocess.run(["id", OTHER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-M", "-r", "-s", "/usr/sbin/nologin", OTHER], check=True)
    return OTHER


@dataclass
class Curled:
    exit_code: int
    status: int | None
    headers: dict[str, str]
    body: bytes

    @property
    def code(self) -> str | None:
        return json.loads(self.body).get("code") if self.headers.get("content-type", "").startswith(
            "application/json") else None


def curl(user: str | None, url: str, *options: str, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> Curled:
    """curl as ``user`` (None: as the daemon's own user); the body comes on stdin, so the other
    user needs no access to our files."""
    argv = ["curl", "-s", "-i", "-k", "--http1.1", "--max-time", "60", "-H", "Expect:", *options]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if body is not None:
        argv += ["--data-binary", "@-"]
    argv.append(url)
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    done = subprocess.run(argv, input=body, capture_output=True, timeout=120)
    head, _, rest = done.stdout.partition(b"\r\n\r\n")
    if not head:
        return Curled(done.returncode, None, {}, b"")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines if ": " in line)
    return Curled(done.returncode, int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, rest)


UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


@pytest.fixture(scope="module")
def daemon(dev_env: DevEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    # each refusal here is alone in its window (1 ms), whose line is written as it closes (the
    # counting of a window's refusals: test_floods.py)
    with RunningDaemon(dev_env.signer_config, tmp_path_factory.mktemp("peers"), allow_origins=(PAGE,),
                       pregranted=(PAGE,), unattended=(PAGE,), companion_channel="tcp",
                       limits={"refusal_window_s": 0.001}) as running:
        yield running


def assert_refused_once(daemon: RunningDaemon, reply: Curled, audit_before: int, calls_before: int,
                        operation: str) -> None:
    assert (reply.status, reply.code) == (403, "PEER_NOT_ALLOWED"), (reply.exit_code, reply.body)
    assert reply.headers.get("connection") == "close", "a refused connection carries no second request"
    assert daemon.token_calls == calls_before, "another user's request reached the token"
    new = daemon.audit_settled(audit_before + 1)[audit_before:]
    assert [(line["operation"], line["result"]) for line in new] == [(operation, "PEER_NOT_ALLOWED")]
    assert new[0]["certificate_sha256"] is None


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_another_user_cannot_sign_as_a_consented_page(scheme: str, daemon: RunningDaemon, other_user: str) -> None:
    url = (daemon.url if scheme == "http" else daemon.tls_url) + "/v1/sign/pdf"
    request = {"headers": {"Origin": PAGE, "Content-Type": "application/pdf"}, "body": PDF}
    audit_before, calls_before = len(daemon.audit_lines()), daemon.token_calls
    assert_refused_once(daemon, curl(other_user, url, **request), audit_before, calls_before, "POST /v1/sign/pdf")

    mine = curl(None, url, **request)  # the same request from the daemon's own user
    assert mine.status == 200 and mine.body.startswith(PDF), mine.body[:200]
    assert daemon.token_calls > calls_before
    assert daemon.audit_lines()[-1]["result"] == "OK"


def test_another_user_cannot_open_a_vgca_socket(daemon: RunningDaemon, other_user: str) -> None:
    url = f"{daemon.tls_url}/Auth"
    audit_before, calls_before = len(daemon.audit_lines()), daemon.token_calls
    reply = curl(other_user, url, headers={"Origin": PAGE, **UPGRADE})
    assert_refused_once(daemon, reply, audit_before, calls_before, "GET /Auth")

    async def auth_as_ourselves() -> dict:
        context = ssl.create_default_context(cafile=str(daemon.tls.ca_cert))
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(f"wss://127.0.0.1:{daemon.listening.https_port}/Auth", ssl=context,
                                   headers={"Origin": PAGE}) as ws:
            await ws.send_str(json.dumps({"Challenge": "n-0451"}))
            return json.loads((await ws.receive(timeout=120)).data)

    assert asyncio.run(auth_as_ourselves())["Status"] == 0
    assert daemon.token_calls > calls_before
    # the socket's own line is written once it has closed: wait for it, so that it is not counted as
    # the next test's
    deadline = time.monotonic() + 30
    while not [line for line in daemon.audit_lines()[audit_before:] if line["result"] == "OK"]:
        assert time.monotonic() < deadline, "our own user's socket left no audit line"
        time.sleep(0.1)


async def channel_handshake(address: dict, secret: str) -> int:
    """The status of the companion's own WebSocket upgrade (101: connected)."""
    if "unix" in address:
        connector, url = aiohttp.UnixConnector(path=address["unix"]), "http://companion/v1/channel"
    else:
        connector, url = aiohttp.TCPConnector(), f"http://127.0.0.1:{address['tcp']}/v1/channel"
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.ws_connect(url, headers={"Authorization": f"Bearer {secret}"}) as ws:
            await ws.close()
            return 101


def assert_tcp_channel_refused_to(daemon: RunningDaemon, other_user: str) -> None:
    """The TCP companion channel refuses ``other_user`` (even holding the secret, which that user
    cannot read) once, and still takes our own companion."""
    state = daemon.settings.server.state_dir
    address = json.loads((state / "companion.json").read_text())
    secret = (state / "companion.secret").read_text().strip()
    audit_before, calls_before = len(daemon.audit_lines()), daemon.token_calls
    reply = curl(other_user, f"http://127.0.0.1:{address['tcp']}/v1/channel",
                 headers={"Authorization": f"Bearer {secret}", **UPGRADE})
    assert_refused_once(daemon, reply, audit_before, calls_before, "GET /v1/channel")
    assert asyncio.run(channel_handshake(address, secret)) == 101


def test_another_user_cannot_use_the_companion_channel_over_tcp(daemon: RunningDaemon, other_user: str) -> None:
    assert_tcp_channel_refused_to(daemon, other_user)


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A daemon folder another user may pass through, so that only the socket's own mode stops it."""
    folder = Path(tempfile.mkdtemp(prefix="signer-peers-", dir="/tmp"))
    try:
        for path in (folder, folder / "state"):
            path.mkdir(exist_ok=True)
            path.chmod(0o711)
        yield folder
    finally:
        shutil.rmtree(folder)


def test_the_unix_channel_is_closed_to_another_user_and_checked_if_opened(
        dev_env: DevEnv, open_folder: Path, other_user: str) -> None:
    with RunningDaemon(dev_env.signer_config, open_folder, companion_channel="unix") as daemon:
        state = daemon.settings.server.state_dir
        address = json.loads((state / "companion.json").read_text())
        secret = (state / "companion.secret").read_text().strip()
        assert Path(address["unix"]).parent == state, "the socket is in the folder made passable"
        request = {"headers": {"Authorization": f"Bearer {secret}", **UPGRADE}}
        calls_before = daemon.token_calls
        refused = curl(other_user, "http://companion/v1/channel", "--unix-socket", address["unix"], **request)
        assert (refused.exit_code, refused.status) == (7, None), "mode 0600: the other user cannot connect"
        assert daemon.audit_lines() == []

        # were the socket's mode loosened, the kernel still names the peer's user
        Path(address["unix"]).chmod(0o666)
        reply = curl(other_user, "http://companion/v1/channel", "--unix-socket", address["unix"], **request)
        assert_refused_once(daemon, reply, 0, calls_before, "GET /v1/channel")
        assert asyncio.run(channel_handshake(address, secret)) == 101


# -- psutil, as Windows and macOS are asked ---------------------------------------------------

def test_linux_reads_the_kernel_s_tables_and_psutil_can_be_chosen() -> None:
    assert default_strategy() == "kernel" and PeerGate().strategy == "kernel"
    assert PeerGate("psutil").enforced and not PeerGate("unchecked").enforced


def test_psutil_names_our_own_process_at_the_peer_s_end() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as client:
        accepted, _ = server.accept()
        with accepted:
            peer, ours = endpoint(accepted.getpeername()), endpoint(accepted.getsockname())
            assert psutil_peers.system_peer_pid(peer, ours) == os.getpid()
            assert psutil_peers.own_user_peer_pid(peer, ours) == os.getpid()
            assert psutil_peers.tcp_peer_is_ours(peer, ours)
            # the daemon's own end is not the peer's; an end nobody holds names nobody
            assert psutil_peers.system_peer_pid(ours, (peer[0], peer[1] ^ 1)) is None
            assert psutil_peers.own_user_peer_pid((peer[0], peer[1] ^ 1), ours) is None
            assert not psutil_peers.tcp_peer_is_ours((peer[0], peer[1] ^ 1), ours)
            assert endpoint(client.getsockname()) == peer


@pytest.fixture
def other_user_connection(other_user: str) -> Iterator[tuple[tuple, tuple]]:
    """A loopback connection held open by curl running as the other user: (peer, ours) as seen
    by the accepting side, which never answers until the test is done."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)
        port = server.getsockname()[1]
        client = subprocess.Popen(["runuser", "-u", other_user, "--", "curl", "-s", "--max-time", "60",
                                   f"http://127.0.0.1:{port}/"], stdout=subprocess.DEVNULL)
        try:
            accepted, _ = server.accept()
            with accepted:
                yield endpoint(accepted.getpeername()), endpoint(accepted.getsockname())
        finally:
            client.wait(90)  # the closed connection ends curl with an empty reply


def test_psutil_names_another_user_s_process_and_refuses_it(other_user_connection: tuple,
                                                            other_user: str) -> None:
    peer, ours = other_user_connection
    pid = psutil_peers.system_peer_pid(peer, ours)
    assert pid is not None and pid != os.getpid()
    assert psutil_peers.process_owner(psutil.Process(pid)) == pwd.getpwnam(other_user).pw_uid
    assert not psutil_peers.runs_as_us(pid)
    assert not psutil_peers.tcp_peer_is_ours(peer, ours)
    # the kernel's table agrees on whose socket it is
    assert tcp_peer_uid(peer, ours) == pwd.getpwnam(other_user).pw_uid


def test_our_user_s_processes_alone_do_not_hold_another_user_s_socket(other_user_connection: tuple) -> None:
    """The fallback where the system-wide table is denied (macOS without root)."""
    peer, ours = other_user_connection
    assert psutil_peers.system_peer_pid(peer, ours) is not None, "the socket is there to be found"
    assert psutil_peers.own_user_peer_pid(peer, ours) is None


@pytest.fixture(scope="module")
def psutil_daemon(dev_env: DevEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    with RunningDaemon(dev_env.signer_config, tmp_path_factory.mktemp("peers-psutil"), allow_origins=(PAGE,),
                       pregranted=(PAGE,), unattended=(PAGE,), companion_channel="tcp",
                       peers=PeerGate("psutil"), limits={"refusal_window_s": 0.001}) as running:
        yield running


def test_the_daemon_asking_psutil_refuses_another_user(psutil_daemon: RunningDaemon, other_user: str) -> None:
    daemon = psutil_daemon
    assert daemon.daemon.peers.strategy == "psutil"
    url = daemon.tls_url + "/v1/sign/pdf"
    request = {"headers": {"Origin": PAGE, "Content-Type": "application/pdf"}, "body": PDF}
    audit_before, calls_before = len(daemon.audit_lines()), daemon.token_calls
    assert_refused_once(daemon, curl(other_user, url, **request), audit_before, calls_before, "POST /v1/sign/pdf")

    mine = curl(None, url, **request)
    assert mine.status == 200 and mine.body.startswith(PDF), mine.body[:200]
    assert daemon.token_calls > calls_before
    assert daemon.audit_lines()[-1]["result"] == "OK"

    assert_tcp_channel_refused_to(daemon, other_user)
