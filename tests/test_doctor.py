"""`signer doctor` as a user runs it: the real command line on a development machine made healthy
(its own ports, state and TLS folders, a HOME whose browser store trusts the local CA, browser
policies under a temporary root, the daemon running as `signer serve`, a companion connected
over the real channel); then each thing it checks broken, one at a time, and exactly that line
failing with its fix. Lines that cannot look because of the broken thing say so as warnings."""

from __future__ import annotations

import email.utils
import http.server
import json
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from companion_harness import answering_companion
from conftest import DevEnv, assert_no_traceback, free_port, signer_cli

ORIGIN = "https://qlvb.example.gov.vn"  # a document system outside this computer: needs a browser policy
MARKERS = {"✓": "pass", "!": "warn", "✗": "fail"}
# pcscd is not needed by SoftHSM and may not run here: that line may warn on a healthy machine
MAY_WARN = {"pcsc"}


@dataclass(frozen=True)
class Machine:
    folder: Path
    config: Path
    home: Path
    root: Path  # where the browser policy files are
    env: dict[str, str]

    @property
    def state(self) -> Path:
        return self.folder / "state"

    def doctor(self, *args: str) -> subprocess.CompletedProcess[str]:
        return signer_cli("doctor", "--root", str(self.root), *args, env=self.env)

    def signer(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = signer_cli(*args, env=self.env)
        assert done.returncode == 0, done.stderr
        return done

    @contextmanager
    def serving(self) -> Iterator[subprocess.Popen[str]]:
        """`signer serve` on the configured ports until the block ends."""
        process = subprocess.Popen([sys.executable, "-m", "signer", "serve"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=self.env)
        try:
            assert process.stdout is not None and process.stderr is not None
            line = process.stdout.readline()
            assert "Listening" in line, line + process.stderr.read()
            yield process
        finally:
            process.terminate()
            process.wait(30)

    @contextmanager
    def running(self) -> Iterator[None]:
        """The daemon and its companion, as on an official's healthy desktop."""
        with self.serving(), answering_companion(self.state):
            yield


def make_machine(dev: DevEnv, folder: Path, **replacements: str) -> Machine:
    """A healthy machine around ``dev``'s tokens; ``replacements``: text of the configuration swapped."""
    folder.mkdir(exist_ok=True)
    text = dev.signer_config.read_text().replace("[server]\n", f"""[server]
port = {free_port()}
tls_port = {free_port()}
tls_dir = "{folder / 'tls'}"
state_dir = "{folder / 'state'}"
api_token_file = "{folder / 'api-token'}"
""").replace("allowed_origins = [", f'allowed_origins = ["{ORIGIN}", ')
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    config = folder / "signer.toml"
    config.write_text(text)
    home = folder / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in dev.env().items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), SIGNER_CONFIG=str(config))
    machine = Machine(folder, config, home, folder / "root", env)
    machine.signer("tls", "init")
    machine.signer("tls", "trust")
    machine.signer("browsers", "policies", "--write", "--root", str(machine.root))
    return machine


def lines(done: subprocess.CompletedProcess[str]) -> dict[str, tuple[str, str]]:
    """Each check's status and its whole line, from the text output."""
    assert_no_traceback(done)
    found = {}
    for line in done.stdout.splitlines():
        marker, rest = line.split(" ", 1)
        found[rest.split(":", 1)[0]] = (MARKERS[marker], line)
    return found


def statuses(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {name: status for name, (status, _) in lines(done).items()}


@pytest.fixture
def machine(dev_env: DevEnv, tmp_path: Path) -> Machine:
    return make_machine(dev_env, tmp_path / "machine")


@pytest.fixture(scope="module")
def healthy_run(dev_env: DevEnv, tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """The doctor's text and JSON outputs on the healthy machine."""
    machine = make_machine(dev_env, tmp_path_factory.mktemp("healthy"))
    with machine.running():
        return machine.doctor(), machine.doctor("--json")


@pytest.fixture
def healthy(healthy_run: tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]
            ) -> dict[str, str]:
    """Each line's status on the healthy machine."""
    return statuses(healthy_run[0])


def assert_only(done: subprocess.CompletedProcess[str], healthy: dict[str, str], failing: str, fix: str,
                warning: dict[str, str] | None = None) -> None:
    """``failing`` fails with ``fix`` in its line, the exit code says so, and every other line is as on
    the healthy machine but ``warning``'s: lines that cannot look past the broken thing, and why."""
    found = lines(done)
    assert done.returncode == 1, done.stdout + done.stderr
    status, line = found[failing]
    assert status == "fail", done.stdout
    assert "Cách sửa: " in line and fix in line, line
    warning = warning or {}
    for name, reason in warning.items():
        assert found[name][0] == "warn" and reason in found[name][1], found[name][1]
    others = {name: s for name, (s, _) in found.items() if name != failing and name not in warning}
    assert others == {name: healthy[name] for name in others}, done.stdout


def test_a_healthy_development_machine_passes(
        healthy_run: tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]) -> None:
    text, as_json = healthy_run
    assert text.returncode == 0 and as_json.returncode == 0, text.stdout + text.stderr
    found = lines(text)
    assert list(found) == ["config", "modules", "pcsc", "tokens", "certificates", "revocation", "clock", "tls",
                           "browser-trust", "browser-policy", "ports", "companion", "state", "audit"]
    assert all(status == "pass" for name, (status, _) in found.items() if name not in MAY_WARN), text.stdout
    assert "leader: valid until" in found["certificates"][1] and "clerk: valid until" in found["certificates"][1]
    assert "signer serve (pid" in found["ports"][1]
    assert "1 companion connection" in found["companion"][1]
    assert f"Chromium lets {ORIGIN}:443 call the daemon" in found["browser-policy"][1]
    listed = json.loads(as_json.stdout)
    assert [r["name"] for r in listed] == list(found)
    assert {r["name"]: r["status"] for r in listed} == statuses(text)
    assert set(listed[0]) == {"name", "status", "found", "fix_vi", "fix_en"}
    assert all(r["fix_vi"] == r["fix_en"] == "" for r in listed if r["status"] == "pass")


def test_a_configured_module_path_that_is_missing(dev_env: DevEnv, tmp_path: Path, healthy: dict[str, str]) -> None:
    missing = tmp_path / "vendor" / "libvendor-pkcs11.so"
    machine = make_machine(dev_env, tmp_path / "machine", **{
        'modules = ["/usr/lib/softhsm/libsofthsm2.so"]': f'modules = ["{missing}"]'})
    done = machine.doctor()  # the daemon does not start without its module: nor is it running here
    assert_only(done, healthy, "modules", "Fix: install the token's driver", warning={
        "tokens": "not checked", "certificates": "not checked", "companion": "daemon is not running"})
    assert f"configured module {missing} does not exist" in lines(done)["modules"][1]


def test_a_module_built_for_another_processor_is_named(dev_env: DevEnv, tmp_path: Path,
                                                        healthy: dict[str, str]) -> None:
    other, code = ("aarch64", 183) if platform.machine() != "aarch64" else ("x86_64", 62)
    module = tmp_path / f"lib{other}-pkcs11.so"
    data = bytearray(Path("/usr/lib/softhsm/libsofthsm2.so").read_bytes())
    data[18:20] = code.to_bytes(2, "little")  # the ELF header's e_machine
    module.write_bytes(bytes(data))
    machine = make_machine(dev_env, tmp_path / "machine", **{
        'modules = ["/usr/lib/softhsm/libsofthsm2.so"]': f'modules = ["{module}"]'})
    done = machine.doctor()
    assert f"{module} does not load: built for {other}, this machine is {platform.machine()}" in \
        lines(done)["modules"][1]
    assert_only(done, healthy, "modules", "Cách sửa: cài bản driver đúng kiến trúc", warning={
        "tokens": "not checked", "certificates": "not checked", "companion": "daemon is not running"})


def test_the_token_removed(private_tokens: DevEnv, tmp_path: Path, healthy: dict[str, str]) -> None:
    tokens = private_tokens.dir / "tokens"
    for folder in list(tokens.iterdir()):
        folder.rename(tmp_path / folder.name)  # unplugged: SoftHSM's token folders moved away
    machine = make_machine(private_tokens, tmp_path / "machine")
    with machine.running():
        done = machine.doctor()
    assert_only(done, healthy, "tokens", "Fix: plug the USB token in", warning={
        "certificates": "not checked: no token plugged in"})
    assert "no token plugged in" in lines(done)["tokens"][1]


def test_an_expired_certificate(dev_env: DevEnv, tmp_path: Path, healthy: dict[str, str]) -> None:
    machine = make_machine(dev_env, tmp_path / "machine",
                           **{'default_certificate = "leader"': 'default_certificate = "expired"'})
    with machine.running():
        done = machine.doctor()
    assert_only(done, healthy, "certificates", "Fix: ask the CA to renew or issue a new certificate")
    assert "expired: CERT_EXPIRED" in lines(done)["certificates"][1]


@pytest.mark.usefixtures("test_ca_stopped")
def test_the_revocation_responders_stopped(dev_env: DevEnv, tmp_path: Path, healthy: dict[str, str]) -> None:
    machine = make_machine(dev_env, tmp_path / "machine")
    with machine.running():
        done = machine.doctor()
    assert_only(done, healthy, "revocation", "Fix: start the test CA's responders: ./softhsm-setup.sh DIR --services",
                warning={"certificates": "revocation could not be checked now", "clock": "cannot check"})
    assert "does not answer" in lines(done)["revocation"][1] or "not fetched" in lines(done)["revocation"][1]


def test_a_configured_port_taken(machine: Machine, healthy: dict[str, str]) -> None:
    port = int(next(line for line in machine.config.read_text().splitlines()
                    if line.startswith("tls_port")).split("=")[1])
    with socket.socket() as taker:
        taker.bind(("127.0.0.1", port))
        taker.listen()
        done = machine.doctor()
    # the daemon cannot start on a taken port: the companion line says it is not running
    assert_only(done, healthy, "ports", "Fix: stop the program holding the port, or change [server] port",
                warning={"companion": "daemon is not running"})
    assert f"{port} taken by " in lines(done)["ports"][1]


def test_the_local_ca_not_trusted(machine: Machine, healthy: dict[str, str]) -> None:
    machine.signer("tls", "untrust")
    with machine.running():
        done = machine.doctor()
    assert_only(done, healthy, "browser-trust", "Fix: trust the local CA in this user's browsers: signer tls trust")
    assert "Chromium does not trust the local CA" in lines(done)["browser-trust"][1]


def test_the_browser_policy_missing(machine: Machine, healthy: dict[str, str]) -> None:
    machine.signer("browsers", "policies", "--remove", "--root", str(machine.root))
    with machine.running():
        done = machine.doctor()
    assert_only(done, healthy, "browser-policy", "Fix: write the browser policies for the allowed origins")
    assert f"Chromium: no policy lets {ORIGIN}:443 call the daemon" in lines(done)["browser-policy"][1]


def test_the_companion_stopped(machine: Machine, healthy: dict[str, str]) -> None:
    with machine.serving():
        done = machine.doctor()
    assert_only(done, healthy, "companion", "Fix: start the companion in the user's session: signer tray")
    assert "no companion connected to the running daemon" in lines(done)["companion"][1]


class _SkewedClock(http.server.BaseHTTPRequestHandler):
    """A server whose clock is ten minutes behind: its ``Date`` header says so."""

    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        self.send_response(405)
        self.end_headers()

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.formatdate(time.time() - 600, usegmt=True)

    def log_message(self, *args: object) -> None:
        pass


def test_the_clock_wrong(dev_env: DevEnv, tmp_path: Path, healthy: dict[str, str]) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SkewedClock)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        tsa = next(line for line in dev_env.signer_config.read_text().splitlines() if line.startswith("url = "))
        machine = make_machine(dev_env, tmp_path / "machine",
                               **{tsa: f'url = "http://127.0.0.1:{server.server_address[1]}/tsa"'})
        with machine.running():
            done = machine.doctor()
    finally:
        server.shutdown()
        thread.join(10)
    assert_only(done, healthy, "clock", "Fix: set the computer's clock (turn on automatic time")
    assert "ahead of http://127.0.0.1:" in lines(done)["clock"][1]


def test_the_state_folder_readable_by_others(machine: Machine, healthy: dict[str, str]) -> None:
    with machine.running():
        machine.state.chmod(0o755)
        done = machine.doctor()
    assert_only(done, healthy, "state", f"Fix: make the folder the user's alone: sudo chown -R $USER {machine.state}")
    assert "has mode 0755: others may read it" in lines(done)["state"][1]


def test_a_trust_anchor_that_cannot_be_read(dev_env: DevEnv, tmp_path: Path, healthy: dict[str, str]) -> None:
    missing = tmp_path / "gone" / "root.cert.pem"
    machine = make_machine(dev_env, tmp_path / "machine", **{str(dev_env.root_cert): str(missing)})
    done = machine.doctor()  # the daemon refuses such a configuration: nor is it running here
    assert_only(done, healthy, "config", "Fix: correct the certificate paths in [trust] of the configuration",
                warning={"certificates": "not checked: no trust anchor", "companion": "daemon is not running"})
    assert f"cannot read certificate {missing}" in lines(done)["config"][1]
