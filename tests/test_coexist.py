"""Living beside another signing service: a port another program holds is found before anything
is written, named with the program holding it and the choices; ``--no-tls`` serves /v1 on http
alone; a second ``signer serve`` on the same state folder leaves the running one's companion
channel (secret, socket, address) as it was, and its real companion keeps working."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_serve_cli as serve_cli
from companion_harness import answering_companion
from conftest import DOCUMENTS, DevEnv, signer_cli
from http_client import call

from signer.errors import Code, SignerError
from signer.security.holders import Holder, port_holder
from signer.security.peers import Strategy

PAGE = serve_cli.PAGE
CHANNEL_FILES = ("companion.secret", "companion.json")


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another program listens on (this test process, as the official service would)."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        yield holder.getsockname()[1]


def sign_pdf(http_port: int) -> tuple[int, bytes]:
    reply = call("POST", f"http://127.0.0.1:{http_port}/v1/sign/pdf",
                 headers={"Origin": PAGE, "Content-Type": "application/pdf"},
                 body=(DOCUMENTS / "libreoffice.pdf").read_bytes())
    return reply.status, reply.body


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("strategy", ["kernel", "psutil"])
def test_the_program_holding_a_port_is_named(held_port: int, strategy: Strategy) -> None:
    holder = port_holder(held_port, strategy)
    assert holder is not None and holder.pid == os.getpid()
    assert holder.command is not None and holder.command.startswith("python")
    assert str(holder) == f"{holder.command} (pid {os.getpid()})"


@pytest.mark.parametrize("strategy", ["kernel", "psutil"])
def test_a_free_port_has_no_holder(strategy: Strategy) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    assert port_holder(port, strategy) is None


def test_the_line_names_the_holder_or_another_program_and_the_choice_that_fits_the_port() -> None:
    tls = SignerError(Code.PORT_IN_USE, "127.0.0.1:8987", holder=Holder(4242, "VGCASignService.exe"), tls=True)
    assert tls.message_en.startswith("127.0.0.1:8987 is already in use by VGCASignService.exe (pid 4242).")
    assert "signer serve --no-tls" in tls.message_en and "signer serve --no-tls" in tls.message_vi
    assert "đang được VGCASignService.exe (pid 4242) sử dụng" in tls.message_vi
    unseen = SignerError(Code.PORT_IN_USE, "127.0.0.1:8986", holder=None, tls=False)
    assert "in use by another program." in unseen.message_en
    assert "một chương trình khác" in unseen.message_vi
    assert "--port PORT" in unseen.message_en and "--no-tls" not in unseen.message_en


def test_tls_port_held_stops_before_anything_is_written_and_no_tls_serves_v1(
        dev_env: DevEnv, tmp_path: Path, held_port: int) -> None:
    config = serve_cli.daemon_config(dev_env, tmp_path)
    refused = signer_cli("serve", "--config", str(config), "--port", "0", "--tls-port", str(held_port),
                         env=dev_env.env())
    assert refused.returncode == 3
    line = one_line(refused.stderr)
    assert line.startswith(f"signer: PORT_IN_USE: Cổng 127.0.0.1:{held_port} đang được python")
    assert f"(pid {os.getpid()})" in line, "the program holding the port, by its pid"
    assert f" / 127.0.0.1:{held_port} is already in use by python" in line
    assert "signer serve --no-tls" in line
    assert not (tmp_path / "state").exists() and not (tmp_path / "tls").exists(), "nothing written"

    # the other choice: ours on the /v1 http port only, the other program keeping its port
    process = subprocess.Popen(
        [sys.executable, "-m", "signer", "serve", "--no-tls", "--config", str(config), "--port", "0",
         "--tls-port", str(held_port), "--allow-origin", PAGE],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dev_env.env())
    try:
        ready = process.stdout.readline()
        assert "Listening" in ready and "(no https" in ready and "https://" not in ready, ready + process.stderr.read()
        http_port = int(ready.split("http://127.0.0.1:")[1].split()[0])
        with answering_companion(tmp_path / "state"):
            status, body = sign_pdf(http_port)
        assert status == 200 and body.startswith(b"%PDF"), body[:300]
        assert port_holder(held_port).pid == os.getpid(), "the port stays the other program's"
        assert not (tmp_path / "tls").exists(), "no local TLS made for a daemon without https"
    finally:
        process.terminate()
        assert process.wait(30) == 0


def channel_files(state: Path) -> dict[str, object]:
    found: dict[str, object] = {name: (state / name).read_bytes() for name in CHANNEL_FILES}
    sock = state / "companion.sock"
    found["socket inode"] = sock.stat().st_ino
    return found


def test_a_second_serve_leaves_the_first_ones_companion_working(dev_env: DevEnv, tmp_path: Path) -> None:
    config = serve_cli.daemon_config(dev_env, tmp_path)
    state = tmp_path / "state"
    process, http_port, https_port = serve_cli.start(config, dev_env)
    try:
        with answering_companion(state) as companion:
            before = channel_files(state)
            # on the first one's ports, then on ports of its own: refused either way, nothing touched
            same_ports = signer_cli("serve", "--config", str(config), "--port", str(http_port),
                                    "--tls-port", str(https_port), env=dev_env.env())
            own_ports = signer_cli("serve", "--config", str(config), "--port", "0", "--tls-port", "0",
                                   env=dev_env.env())
            assert channel_files(state) == before

            assert same_ports.returncode == 3
            line = one_line(same_ports.stderr)
            assert line.startswith(f"signer: PORT_IN_USE: Cổng 127.0.0.1:{https_port} đang được python")
            assert f"-m signer serve (pid {process.pid})" in line
            assert own_ports.returncode == 3
            line = one_line(own_ports.stderr)
            assert line.startswith("signer: ALREADY_RUNNING: Dịch vụ ký số đang chạy với thư mục dữ liệu này "
                                   f"(pid {process.pid}, {state})")
            assert f" / The signing service is already running with this state folder (pid {process.pid}, " in line

            assert companion.status()["running"] is True, "the connected companion still talks to the daemon"
        # a companion starting now finds the first daemon through the files it left, and answers for it
        answered = threading.Event()
        with answering_companion(state, opened=answered):
            status, body = sign_pdf(http_port)
        assert answered.is_set()
        assert status == 200 and body.startswith(b"%PDF"), body[:300]
    finally:
        process.terminate()
        assert process.wait(30) == 0
    again, _, _ = serve_cli.start(config, dev_env)  # the folder is free once its daemon has stopped
    again.terminate()
    assert again.wait(30) == 0
