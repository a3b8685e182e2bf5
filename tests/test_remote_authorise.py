"""A remote credential authorised explicitly (CSC ``authMode`` explicit): its PIN and one-time
code typed by the official in the companion's dialog or at the command's terminal, never taken
from the page; a wrong one refused once, with its code, and nothing signed; a disabled credential
refused by name. The service is ``tests/csc_v2_server.py`` (CSC API v2, keys in SoftHSM), whose
``gov-test/clerk`` credential asks for both; its counters show what the signer asked of it.
"""

from __future__ import annotations

import base64
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from conftest import DOCUMENTS, DevEnv, free_port, signer_cli
from csc_v2_server import RunningV2, start
from daemon_harness import RunningDaemon
from docsys import DocumentSystem, Running
from http_client import call
from pdf_checks import assert_pdfsig_all_valid
from pty_terminal import Terminal
from test_remote_v2 import _client_credentials, _env
from test_vgca import document_frame, vgca

from drivers.csc import RemoteError
from signer.audit import AuditLog
from signer.keys.remote import remote_error
from tray.bridge import DialogBridge
from tray.core import TrayCore

SERVICE = "v2"  # the name test_remote_v2's configuration gives the service
CLERK = "gov-test/clerk"  # explicit: the PIN and the one-time code
HOLDER = "Văn phòng UBND Thành phố Hà Nội"
PIN, OTP = "81726354", "907531"  # digits found nowhere else in what the signer writes
PAGE = "http://127.0.0.1:5173"
BOUNDARY = "trang-van-ban"


@pytest.fixture(scope="module")
def service(dev_env: DevEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningV2]:
    with start(dev_env.dir / "pki", tmp_path_factory.mktemp("csc-v2-explicit"), free_port(), pin=PIN,
               otp=OTP) as running:
        yield running


class Official:
    """The companion's dialogs: each remote authorisation is answered with ``pin`` and ``otp``
    through the dialog's own bridge, as its OK button does; what each dialog showed is kept."""

    def __init__(self, pin: str, otp: str) -> None:
        self.pin, self.otp = pin, otp
        self.shown: list[dict[str, Any]] = []

    def open(self, bridge: DialogBridge) -> None:
        if bridge.kind == "authorise":
            self.shown.append(bridge.state()["data"])
            # off the companion's channel thread, as a window's button is
            threading.Thread(target=bridge.submit_authorisation, args=(self.pin, self.otp), daemon=True).start()

    def close(self, bridge: DialogBridge) -> None:
        pass

    def save_file(self, bridge: DialogBridge, name: str, data: bytes) -> str | None:
        return None


class Companion:
    """``Official`` connected to ``daemon`` over the real channel."""

    def __init__(self, daemon: RunningDaemon, official: Official) -> None:
        self.daemon = daemon
        self.core = TrayCore(daemon.settings.server.state_dir, official)

    def __enter__(self) -> Companion:
        self.core.start()
        assert self.core.connected.wait(10), self.core.error
        deadline = time.monotonic() + 10
        while self.daemon.daemon.prompts.companion is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.daemon.daemon.prompts.companion is not None, "the daemon did not see the companion"
        return self

    def __exit__(self, *exc: object) -> None:
        self.core.stop()


def _page_request(daemon: RunningDaemon, fields: dict[str, str]) -> Any:
    """The page's signature request, a multipart form with ``fields`` beside the document."""
    body = b"".join(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                    for name, value in fields.items())
    body += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="to-trinh.pdf"\r\n'
             "Content-Type: application/pdf\r\n\r\n").encode() + (DOCUMENTS / "libreoffice.pdf").read_bytes()
    body += f"\r\n--{BOUNDARY}--\r\n".encode()
    return call("POST", f"{daemon.url}/v1/sign/pdf?profile=approved&cert={CLERK}",
                headers={"Origin": PAGE, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                         "Accept": "application/json"}, body=body)


def _daemon(config: Path, folder: Path) -> RunningDaemon:
    return RunningDaemon(config, folder, allow_origins=(PAGE,), pregranted=(PAGE,), unattended=(PAGE,))


def _counted(service: RunningV2, *names: str) -> tuple[int, ...]:
    counters = service.counters()
    return tuple(counters.get(name, 0) for name in names)


def test_the_companion_authorises_an_explicit_credential_and_the_page_cannot(
        service: RunningV2, dev_env: DevEnv, tmp_path: Path) -> None:
    config = _client_credentials(dev_env, tmp_path / "config", service)
    official = Official(PIN, OTP)
    before = _counted(service, "credentials/authorize", "wrong PIN", "wrong OTP", "signatures")
    with _daemon(config, tmp_path / "daemon") as daemon, Companion(daemon, official), \
            structlog.testing.capture_logs() as logged:
        # the page's own "PIN" and "OTP" fields (wrong ones) are dropped, never sent to the service
        reply = _page_request(daemon, {"pin": "00000000", "OTP": "000000", "reason": "Phê duyệt"})
        assert reply.status == 200, reply.body
        result = reply.json()
        audit = (daemon.settings.server.state_dir / "audit.jsonl").read_text()
    assert result["warnings"] == ["PIN_IGNORED"] * 2  # one for each field
    out = tmp_path / "signed.pdf"
    out.write_bytes(base64.b64decode(result["pdf"]))
    assert_pdfsig_all_valid(out, 1)

    (shown,) = official.shown
    assert {k: shown[k] for k in ("service", "credential", "holder", "signatures", "pin", "otp", "otp_sent")} == {
        "service": SERVICE, "credential": CLERK, "holder": HOLDER, "signatures": 1, "pin": True, "otp": True,
        "otp_sent": False}
    assert shown["origin"] == PAGE  # the dialog names who asks
    authorised, wrong_pin, wrong_otp, signatures = _counted(service, "credentials/authorize", "wrong PIN",
                                                            "wrong OTP", "signatures")
    assert (authorised, wrong_pin, wrong_otp, signatures) == (before[0] + 1, before[1], before[2], before[3] + 1)
    line = AuditLog(daemon.settings.server.state_dir / "audit.jsonl").read()[-1]
    assert (line.result, line.remote, line.origin) == ("OK", SERVICE, PAGE)
    for secret in (PIN, OTP):
        assert secret not in audit and secret not in repr(logged)


def test_a_vgca_page_s_pin_and_otp_are_not_read(service: RunningV2, dev_env: DevEnv, tmp_path: Path) -> None:
    """A VGCA SignApproved frame carrying its own (wrong) PIN and OTP: the official is asked in the
    dialog all the same, and only what the official typed reaches the service."""
    config = _client_credentials(dev_env, tmp_path / "config", service)
    text = config.read_text()
    assert 'default_certificate = "gov-test/leader"' in text
    config.write_text(text.replace('default_certificate = "gov-test/leader"', f'default_certificate = "{CLERK}"'))
    official = Official(PIN, OTP)
    before = _counted(service, "wrong PIN", "wrong OTP", "signatures")
    with Running(DocumentSystem()) as docsys, RunningDaemon(
            config, tmp_path / "daemon", allow_origins=(docsys.url,), pregranted=(docsys.url,),
            unattended=(docsys.url,)) as daemon, Companion(daemon, official):
        reply = vgca(daemon, "SignApproved", document_frame(docsys, PIN="00000000", OTP="000000", Pin="00000000"),
                     origin=docsys.url)
        assert reply["Status"] == 0, reply
        (upload,) = docsys.uploads
    out = tmp_path / "uploaded.pdf"
    out.write_bytes(upload.data)
    assert_pdfsig_all_valid(out, 1)
    assert [(s["credential"], s["origin"]) for s in official.shown] == [(CLERK, docsys.url)]
    assert _counted(service, "wrong PIN", "wrong OTP", "signatures") == (before[0], before[1], before[2] + 1)


def test_a_wrong_one_time_code_is_refused_once_and_nothing_is_signed(
        service: RunningV2, dev_env: DevEnv, tmp_path: Path) -> None:
    config = _client_credentials(dev_env, tmp_path / "config", service)
    official = Official(PIN, "111111")
    before = _counted(service, "credentials/authorize", "wrong OTP", "signatures")
    with _daemon(config, tmp_path / "daemon") as daemon, Companion(daemon, official):
        reply = _page_request(daemon, {"reason": "Phê duyệt"})
        assert (reply.status, reply.json()["code"]) == (401, "REMOTE_AUTHORISATION_INCORRECT"), reply.body
        assert "The OTP is invalid" in reply.json()["message"]
        lines = AuditLog(daemon.settings.server.state_dir / "audit.jsonl").read()
    assert len(official.shown) == 1, "asked once: a refused code is not asked again or retried"
    assert _counted(service, "credentials/authorize", "wrong OTP", "signatures") == (
        before[0] + 1, before[1] + 1, before[2])
    assert [(line.result, line.remote) for line in lines] == [("REMOTE_AUTHORISATION_INCORRECT", SERVICE)]


def test_nobody_to_ask_is_pin_unavailable(service: RunningV2, dev_env: DevEnv, tmp_path: Path) -> None:
    """No companion and no terminal: refused at once, nothing sent to the service."""
    config = _client_credentials(dev_env, tmp_path / "config", service)
    before = _counted(service, "credentials/authorize")
    with _daemon(config, tmp_path / "daemon") as daemon:
        reply = _page_request(daemon, {})
    assert (reply.status, reply.json()["code"]) == (401, "PIN_UNAVAILABLE"), reply.body
    assert _counted(service, "credentials/authorize") == before


def test_signer_sign_asks_the_pin_and_one_time_code_at_its_terminal(
        service: RunningV2, dev_env: DevEnv, tmp_path: Path) -> None:
    config = _client_credentials(dev_env, tmp_path / "config", service)
    out = tmp_path / "signed.pdf"
    terminal = Terminal([sys.executable, "-m", "signer", "sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out),
                         "--profile", "approved", "--cert", CLERK], _env(config))
    try:
        asked = terminal.expect("Mã PIN / PIN: ")
        assert f"Dịch vụ ký số / Signing service: {SERVICE}" in asked
        assert f"Chứng thư số / Certificate: {HOLDER} ({CLERK}), 1 chữ ký / signature(s)" in asked
        terminal.type(PIN)
        assert terminal.expect("Mã OTP / One-time code: ").endswith("Mã OTP / One-time code: ")
        terminal.type(OTP)
        code, transcript = terminal.finish()
    finally:
        _end(terminal)
    assert code == 0, transcript
    assert PIN not in transcript and OTP not in transcript, "typed without echo"
    assert_pdfsig_all_valid(out, 1)
    line = AuditLog(tmp_path / "config" / "state" / "audit.jsonl").read()[-1]
    assert (line.operation, line.result, line.remote) == ("cli sign", "OK", SERVICE)


def test_serve_interactive_asks_at_the_daemon_s_terminal(service: RunningV2, dev_env: DevEnv,
                                                         tmp_path: Path) -> None:
    """No companion: ``signer serve --interactive`` asks on its own terminal, without echo."""
    config = _client_credentials(dev_env, tmp_path / "config", service)
    port = free_port()
    page = "http://127.0.0.1:3000"  # the development configuration's consented, unattended origin
    daemon = Terminal([sys.executable, "-m", "signer", "serve", "--interactive", "--no-tls", "--port", str(port)],
                      _env(config))
    replies: list[Any] = []
    try:
        assert "127.0.0.1" in daemon.expect(f"{port}"), "the daemon did not say where it listens"
        asking = threading.Thread(target=lambda: replies.append(call(
            "POST", f"http://127.0.0.1:{port}/v1/sign/pdf?cert={CLERK}",
            headers={"Origin": page, "Content-Type": "application/pdf"},
            body=(DOCUMENTS / "libreoffice.pdf").read_bytes())))
        asking.start()
        asked = daemon.expect("Mã PIN / PIN: ")
        assert f"Trang web / Website: {page}" in asked and f"{HOLDER} ({CLERK})" in asked, asked
        daemon.type(PIN)
        daemon.expect("Mã OTP / One-time code: ")
        daemon.type(OTP)
        asking.join(60)
        os.kill(daemon.pid, signal.SIGTERM)
        _, transcript = daemon.finish()
    finally:
        _end(daemon)
    (reply,) = replies
    assert reply.status == 200, reply.body
    out = tmp_path / "signed.pdf"
    out.write_bytes(reply.body)
    assert_pdfsig_all_valid(out, 1)
    assert PIN not in transcript and OTP not in transcript, "typed without echo"


def _end(terminal: Terminal) -> None:
    """A command a failed expectation left waiting at its prompt is ended, not left behind."""
    try:
        if os.waitpid(terminal.pid, os.WNOHANG) == (0, 0):
            os.kill(terminal.pid, signal.SIGKILL)
            os.waitpid(terminal.pid, 0)
    except ChildProcessError:
        pass  # finished and reaped


def test_a_disabled_credential_is_refused_by_name(service: RunningV2, dev_env: DevEnv, tmp_path: Path) -> None:
    config = _client_credentials(dev_env, tmp_path / "config", service)
    before = _counted(service, "credentials/authorize", "signatures")
    out = tmp_path / "never.pdf"
    done = signer_cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out), "--cert", "gov-test/revoked",
                      env=_env(config))
    assert done.returncode == 5, done.stderr
    assert "REMOTE_CREDENTIAL_DISABLED" in done.stderr and "gov-test/revoked" in done.stderr, done.stderr
    assert not out.exists()
    assert _counted(service, "credentials/authorize", "signatures") == before
    line = AuditLog(tmp_path / "config" / "state" / "audit.jsonl").read()[-1]
    assert (line.operation, line.result) == ("cli sign", "REMOTE_CREDENTIAL_DISABLED")


@pytest.mark.parametrize(("error", "description", "code"), [
    ("invalid_pin", "The PIN is invalid", "REMOTE_AUTHORISATION_INCORRECT"),
    ("invalid_otp", "", "REMOTE_AUTHORISATION_INCORRECT"),
    ("invalid_request", "The OTP is invalid", "REMOTE_AUTHORISATION_INCORRECT"),  # API v1's words
    ("invalid_request", "Invalid PIN", "REMOTE_AUTHORISATION_INCORRECT"),
    ("invalid_request", "Missing (or invalid type) string parameter PIN", "REMOTE_SERVICE_ERROR"),
    ("invalid_request", "The credential is disabled", "REMOTE_CREDENTIAL_DISABLED"),
    ("invalid_request", "Invalid parameter credentialID", "REMOTE_SERVICE_ERROR"),
])
def test_service_answers_and_their_codes(error: str, description: str, code: str) -> None:
    """Answers no test server gives (API v1's ``invalid_request`` wordings) sorted as the codes say."""
    answer = RemoteError(f"credentials/authorize: HTTP 400 {error} {description}", reached=True, status=400,
                         error=error, description=description)
    assert remote_error(SERVICE, answer).code == code
