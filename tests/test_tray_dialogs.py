"""The companion's dialogs in real headless Chromium, against the real daemon and channel.

The daemon runs in this process with the development tokens, but with PINs asked through
the companion (pin source "terminal") and no pre-granted origin. The companion's core
(``tray.core.TrayCore``) connects over the real Unix-socket channel; its dialogs open here
as Chromium pages (the real HTML/JS) with the same bridge object pywebview would be given,
bound as ``window.tray_<name>``. A second page, from an allowed origin, makes the request.

    SIGNER_SCREENSHOTS=docs/images python -m pytest tests/test_tray_dialogs.py -k remote_authorisation

refreshes the user's guide's picture of the remote authorisation dialog.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import TypeVar

import pytest
from conftest import DOCUMENTS, DevEnv, pdfsig
from daemon_harness import RunningDaemon
from http_client import call
from playwright.sync_api import Page, sync_playwright
from test_always_authenticate import add_always_auth_token
from test_batches import batch_body, wait_final
from test_browser import ARGS, CHROMIUM

from drivers.pins import PINPAD, PinRequest, pin_source_for
from drivers.tokeninfo import TokenFlags
from signer.errors import SignerError
from signer.keys.remote import Authorisation, AuthorisationRequest
from signer.service.prompts import PIN_PURPOSE, PinPurpose, pin_message
from tray.app import dialog_page
from tray.bridge import METHODS, DialogBridge
from tray.core import TrayCore

pytestmark = pytest.mark.browser

LEADER_PIN = "12345678"
FETCH = """
async ([daemonUrl, path, body]) => {
  window.outcome = null;
  const pdf = await (await fetch('/' + body)).arrayBuffer();
  fetch(daemonUrl + path, {method: 'POST', body: pdf, headers: {'Content-Type': 'application/pdf'}})
    .then(async (reply) => {
      const type = reply.headers.get('Content-Type') || '';
      const data = type.includes('json') ? await reply.json() : {pdf: btoa(String.fromCharCode(...new Uint8Array(await reply.arrayBuffer())))};
      window.outcome = {status: reply.status, ...data};
    })
    .catch((error) => { window.outcome = {error: String(error)}; });
}
"""

T = TypeVar("T")


class BrowserDialogs:
    """The companion's dialogs, opened by the test as Chromium pages."""

    def __init__(self) -> None:
        self.opened: queue.Queue[DialogBridge] = queue.Queue()
        self.closed: list[DialogBridge] = []

    def open(self, bridge: DialogBridge) -> None:
        self.opened.put(bridge)

    def close(self, bridge: DialogBridge) -> None:
        self.closed.append(bridge)

    def next(self, kind: str, timeout: float = 30) -> DialogBridge:
        bridge = self.opened.get(timeout=timeout)
        assert bridge.kind == kind, (bridge.kind, kind)
        return bridge


def show(page: Page, bridge: DialogBridge) -> Page:
    for name in METHODS:
        page.expose_function(f"tray_{name}", getattr(bridge, name))
    page.goto(dialog_page(bridge.kind).as_uri())
    return page


def answered(page: Page, asked: Future[T]) -> T:
    """The daemon's answer to a dialog. The page's calls into the companion run only while the test
    is in a Playwright call: it waits there, well inside the prompt's own 30 s (whose end would be
    USER_CANCELLED too, passing for a cancel)."""
    deadline = time.monotonic() + 10
    while not asked.done() and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    return asked.result(0)


def wait_outcome(page: Page, timeout_ms: float = 60000) -> dict:
    page.wait_for_function("window.outcome !== null", timeout=timeout_ms)
    return page.evaluate("window.outcome")


@pytest.fixture(scope="module")
def page_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(DOCUMENTS)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as running:
        chromium = running.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def asking_config(dev_env: DevEnv, folder: Path) -> Path:
    """The development configuration, but the official is asked for the PIN."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "signer.toml"
    config.write_text(dev_env.signer_config.read_text().replace('source = "development"', 'source = "terminal"'))
    return config


class Companion:
    """A daemon that asks, with the companion's core connected to it."""

    def __init__(self, dev_env: DevEnv, folder: Path, origin: str, consent_timeout_s: float = 30) -> None:
        self.running = RunningDaemon(asking_config(dev_env, folder), folder, allow_origins=(origin,),
                                     consent_timeout_s=consent_timeout_s)
        self.dialogs = BrowserDialogs()

    def __enter__(self) -> Companion:
        self.running.__enter__()
        for module in self.running.daemon.signing.keys.modules:  # the tokens may be shared in this process:
            module.logout()                             # start logged out, so the PIN is asked
        self.core = TrayCore(self.running.settings.server.state_dir, self.dialogs)
        self.core.start()
        assert self.core.connected.wait(10), self.core.error
        deadline = time.monotonic() + 5
        while self.running.daemon.prompts.companion is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.core.stop()
        self.running.__exit__(*exc)


@pytest.fixture
def companion(dev_env: DevEnv, page_server: str, tmp_path: Path) -> Iterator[Companion]:
    with Companion(dev_env, tmp_path, page_server) as running:
        yield running


def ask_to_sign(browser, page_server: str, companion: Companion, path: str = "/v1/sign/pdf?profile=approved",
                document: str = "libreoffice.pdf") -> Page:
    page = browser.new_page()
    page.goto(f"{page_server}/libreoffice.pdf")
    page.evaluate(FETCH, [companion.running.url, path, document])
    return page


def test_consent_dialog_shows_the_exact_origin_and_document_digests(browser, page_server: str,
                                                                   companion: Companion) -> None:
    caller = ask_to_sign(browser, page_server, companion)
    dialog = show(browser.new_page(), companion.dialogs.next("consent"))
    digest = hashlib.sha256((DOCUMENTS / "libreoffice.pdf").read_bytes()).hexdigest()
    assert dialog.locator("#origin").inner_text() == page_server
    assert dialog.locator(".document .digest").inner_text() == digest
    assert dialog.locator(".document td").nth(1).inner_text() == "1"  # pages
    holder = companion.running.daemon.signing.keys.token_key(None).certificate.subject.native["common_name"]
    assert dialog.locator("#holder").inner_text() == holder
    assert dialog.locator("#preview").get_attribute("src").startswith("data:image/png;base64,")
    assert dialog.locator("#once").inner_text() == "Cho phép lần này"
    dialog.locator("#lang").click()
    assert dialog.locator("#once").inner_text() == "Allow once"
    dialog.locator("#refuse").click()
    assert wait_outcome(caller)["code"] == "CONSENT_DENIED"


def test_refuse_in_the_consent_dialog_gives_consent_denied_to_the_page(browser, page_server: str,
                                                                       companion: Companion) -> None:
    caller = ask_to_sign(browser, page_server, companion, "/v1/sign/pdf")
    dialog = show(browser.new_page(), companion.dialogs.next("consent"))
    dialog.locator("#refuse").click()
    outcome = wait_outcome(caller)
    assert (outcome["status"], outcome["code"]) == (403, "CONSENT_DENIED")
    assert dialog.locator("#status").inner_text() == "Đã từ chối."
    assert companion.dialogs.opened.empty(), "no PIN dialog after a refusal"
    assert not companion.running.daemon.consent_store.granted(page_server, "sign")
    key = companion.running.daemon.signing.keys.token_key(None)
    assert key.module.worker.run(key.module.key_ready, key.ref) is None, "no login: only the certificate was read"


def test_allow_once_then_the_pin_dialog_signs(browser, page_server: str, companion: Companion,
                                              tmp_path: Path) -> None:
    caller = ask_to_sign(browser, page_server, companion)
    consent = show(browser.new_page(), companion.dialogs.next("consent"))
    consent.locator("#once").click()
    pin = show(browser.new_page(), companion.dialogs.next("pin"))
    assert pin.locator("#token").inner_text() == "Token Le Hong Son"
    assert pin.locator("#warning").inner_text() == ""
    pin.locator("#pin").fill(LEADER_PIN)
    pin.locator("#ok").click()
    outcome = wait_outcome(caller)
    assert outcome["status"] == 200, outcome
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(base64.b64decode(outcome["pdf"]))
    assert "Signature is Valid." in pdfsig(signed)
    pin.wait_for_selector("text=Đăng nhập token thành công.")
    assert not companion.running.daemon.consent_store.granted(page_server, "sign"), "once is not remembered"
    assert LEADER_PIN not in (companion.running.settings.server.state_dir / "audit.jsonl").read_text()


def test_always_allow_is_remembered_and_revoked_in_the_settings_dialog(browser, page_server: str,
                                                                       companion: Companion) -> None:
    caller = ask_to_sign(browser, page_server, companion, "/v1/sign/pdf")
    show(browser.new_page(), companion.dialogs.next("consent")).locator("#always").click()
    pin = show(browser.new_page(), companion.dialogs.next("pin"))
    pin.locator("#pin").fill(LEADER_PIN)
    pin.locator("#ok").click()
    assert wait_outcome(caller)["status"] == 200
    assert companion.running.daemon.consent_store.granted(page_server, "sign")

    again = ask_to_sign(browser, page_server, companion, "/v1/sign/pdf")
    confirmation = companion.dialogs.next("consent")
    assert confirmation.confirming, "remembered: no consent dialog, but this signature is confirmed"
    show(browser.new_page(), confirmation).locator("#once").click()
    assert wait_outcome(again)["status"] == 200
    assert companion.dialogs.opened.empty(), "logged in already: no PIN dialog"

    settings = show(browser.new_page(), DialogBridge(companion.core, "settings"))
    row = settings.locator(".origin-row", has_text=page_server)
    assert "sign" in row.inner_text()
    row.locator(".revoke").click()
    settings.wait_for_function(f"!document.body.innerText.includes('{page_server}') || "
                               "document.querySelectorAll('.revoke').length === 0")
    assert not companion.running.daemon.consent_store.granted(page_server, "sign")
    assert "days" in settings.locator("#tls").inner_text() or "ngày" in settings.locator("#tls").inner_text()


def test_the_raw_scope_dialog_says_the_content_cannot_be_shown(browser, page_server: str,
                                                                companion: Companion) -> None:
    caller = ask_to_sign(browser, page_server, companion, "/v1/sign/cms")
    dialog = show(browser.new_page(), companion.dialogs.next("consent"))
    assert dialog.locator("#operation").inner_text() == "Ký dữ liệu do trang web gửi (nội dung không hiển thị được)"
    assert dialog.locator("#notice").inner_text().startswith("Không thể hiển thị nội dung sẽ ký")
    dialog.locator("#lang").click()
    assert dialog.locator("#notice").inner_text().startswith("The content cannot be shown")
    dialog.locator("#refuse").click()
    assert wait_outcome(caller)["code"] == "CONSENT_DENIED"


@contextmanager
def companion_process(tokens: DevEnv, folder: Path, page_server: str) -> Iterator[tuple[SimpleNamespace, BrowserDialogs]]:
    """Its own daemon process on a copy of the tokens (what it does to them stays there), asking
    through a companion connected to it."""
    config = asking_config(tokens, folder).read_text().replace("[server]\n", f"""[server]
state_dir = "{folder / 'state'}"
tls_dir = "{folder / 'tls'}"
api_token_file = "{folder / 'api-token'}"
""").replace("pregranted", "# pregranted")
    (folder / "signer.toml").write_text(config)
    process = subprocess.Popen([sys.executable, "-m", "signer", "serve", "--config", str(folder / "signer.toml"),
                                "--port", "0", "--tls-port", "0", "--allow-origin", page_server],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=tokens.env())
    dialogs = BrowserDialogs()
    core = TrayCore(folder / "state", dialogs)
    try:
        port = int(process.stdout.readline().split("http://127.0.0.1:")[1].split()[0])
        core.start()
        assert core.connected.wait(10), core.error
        yield SimpleNamespace(running=SimpleNamespace(url=f"http://127.0.0.1:{port}")), dialogs
    finally:
        core.stop()
        process.terminate()
        process.wait(30)


def test_wrong_pin_shows_remaining_tries_and_is_not_retried(browser, page_server: str, private_tokens: DevEnv,
                                                             tmp_path: Path) -> None:
    with companion_process(private_tokens, tmp_path, page_server) as (daemon, dialogs):
        caller = ask_to_sign(browser, page_server, daemon, "/v1/sign/pdf")
        show(browser.new_page(), dialogs.next("consent")).locator("#once").click()
        pin = show(browser.new_page(), dialogs.next("pin"))
        assert pin.locator("#warning").inner_text() == ""
        pin.locator("#pin").fill("00000000")
        pin.locator("#ok").click()
        outcome = wait_outcome(caller)
        assert (outcome["status"], outcome["code"]) == (401, "PIN_INCORRECT")
        pin.wait_for_selector("text=Sai mã PIN")
        assert "Số lần thử còn lại không nhiều." in pin.locator("#status").inner_text()  # the token's count-low flag
        assert pin.locator("#ok").is_disabled() and pin.locator("#pin").is_disabled()
        time.sleep(1)
        assert dialogs.opened.empty(), "a wrong PIN is not asked again"

        again = ask_to_sign(browser, page_server, daemon, "/v1/sign/pdf")  # the next request asks anew, warned
        show(browser.new_page(), dialogs.next("consent")).locator("#once").click()
        warned = show(browser.new_page(), dialogs.next("pin"))
        assert warned.locator("#warning").inner_text() == "Số lần thử còn lại không nhiều."
        warned.locator("#cancel").click()
        assert wait_outcome(again)["code"] == "USER_CANCELLED"


def test_consent_says_beforehand_when_the_key_asks_the_pin_for_each_signature(
        browser, page_server: str, private_tokens: DevEnv, tmp_path: Path) -> None:
    """A CKA_ALWAYS_AUTHENTICATE key shows that flag only after login: learned at the first
    login, remembered, and said in every later consent dialog."""
    add_always_auth_token(private_tokens, tmp_path)
    origin = {"Origin": page_server}
    two = [(f"{i}.pdf", (DOCUMENTS / "libreoffice.pdf").read_bytes()) for i in range(2)]
    with companion_process(private_tokens, tmp_path, page_server) as (daemon, dialogs):
        body, content_type = batch_body(two)
        url = f"{daemon.running.url}/v1/batches?cert=always&level=B-B"
        first = call("POST", url, headers={**origin, "Content-Type": content_type}, body=body).json()["id"]
        consent = show(browser.new_page(), dialogs.next("consent"))
        assert consent.locator("#per-signature").inner_text() == "", "not known before the first login"
        consent.locator("#once").click()
        progress: list[DialogBridge] = []
        for per_signature in (False, True, True):  # the login, then each signature
            if per_signature and not progress:
                progress.append(dialogs.next("progress"))  # the batch runs once logged in
            pin = show(browser.new_page(), dialogs.next("pin"))
            assert pin.locator("#per-signature").is_visible() == per_signature
            pin.locator("#pin").fill(LEADER_PIN)
            pin.locator("#ok").click()
        assert wait_final(daemon.running.url, first, origin)["state"] == "done"

        second = call("POST", url, headers={**origin, "Content-Type": content_type}, body=body).json()["id"]
        consent = show(browser.new_page(), dialogs.next("consent"))
        assert consent.locator("#per-signature").inner_text() == "Khóa này yêu cầu nhập lại PIN cho từng chữ ký (2 chữ ký)."
        consent.locator("#refuse").click()
        status = wait_final(daemon.running.url, second, origin)
        assert {(i["state"], i["error"]) for i in status["items"]} == {("failed", "CONSENT_DENIED")}


def test_final_try_flag_shows_a_warning_in_the_pin_dialog(browser, companion: Companion) -> None:
    """SoftHSM never reports CKF_USER_PIN_FINAL_TRY (it has no try counter): the prompt is
    built by the daemon's own ``pin_message`` from flags a real token sets, and shown in the
    real dialog through the real bridge."""
    flags = TokenFlags(login_required=True, protected_authentication_path=False, pin_count_low=True,
                       pin_final_try=True, pin_locked=False, initialized=True)
    prompt = {"id": "final", "kind": "pin", **pin_message(PinRequest("Token Le Hong Son", "5c0f", flags))}
    page = show(browser.new_page(), DialogBridge(companion.core, "pin", prompt))
    warning = page.locator("#warning .notice.danger")
    assert warning.inner_text() == "Chỉ còn MỘT lần thử: nhập sai thêm một lần nữa token sẽ bị khóa."
    page.locator("#lang").click()
    assert page.locator("#warning").inner_text() == "Only ONE try left: one more wrong PIN locks the token."


def test_pin_dialog_for_a_pinpad_reader_asks_for_the_keypad_and_sends_no_pin(browser, companion: Companion) -> None:
    """A reader with a pinpad cannot run here (SoftHSM has no protected authentication path):
    the token's flags are those such a reader sets; the rest is real: the driver's choice of
    PIN source, the daemon's question over the channel, the dialog, and the answer."""
    flags = TokenFlags(login_required=True, protected_authentication_path=True, pin_count_low=False,
                       pin_final_try=False, pin_locked=False, initialized=True)
    source = companion.running.daemon.pin_prompts
    assert pin_source_for(flags, source) is source, "the dialog, not a silent pinpad login"
    answered: dict = {}
    asking = threading.Thread(target=lambda: answered.setdefault(
        "pin", source.pin_for(PinRequest("Token Bit4id", "4b1d", flags))))
    asking.start()
    page = show(browser.new_page(), companion.dialogs.next("pin"))
    assert page.locator("#pin-row").is_hidden()
    assert page.locator("#pinpad").inner_text() == ("Bấm Đồng ý, rồi nhập PIN trên bàn phím của đầu đọc thẻ "
                                                    "(không nhập ở đây).")
    page.locator("#ok").click()
    asking.join(10)
    assert answered["pin"] is PINPAD, "the driver logs in with the reader's keypad"


def test_remote_authorisation_dialog_sends_the_pin_and_one_time_code(browser, companion: Companion) -> None:
    """The daemon's question for a remote credential (its Authoriser, ``Prompts``) over the real
    channel, the real dialog, and the answer back to the daemon; the page keeps nothing typed.
    The signatures it authorises are tests/test_remote_authorise.py's."""
    request = AuthorisationRequest(service="ky-tap-trung", credential="cred-leader", holder="Lê Hồng Sơn",
                                   signatures=3, pin=True, otp=True, pin_label="Mã PIN ký số", otp_sent=True,
                                   otp_description="Mã gửi qua SMS tới số máy ***1234")
    loop = companion.running.daemon.pin_prompts.loop
    assert loop is not None

    async def for_a_signature() -> Authorisation:  # as the signing service asks: naming the site
        PIN_PURPOSE.set(PinPurpose("https://vanban.hanoi.gov.vn", "batch"))
        return await companion.running.daemon.prompts.authorise(request)

    asked = asyncio.run_coroutine_threadsafe(for_a_signature(), loop)
    page = show(browser.new_page(), companion.dialogs.next("authorise"))
    assert page.locator("#origin").inner_text() == "https://vanban.hanoi.gov.vn"
    assert [page.locator(f"#{field}").inner_text() for field in ("service", "holder", "credential", "signatures")] == [
        "ky-tap-trung", "Lê Hồng Sơn", "cred-leader", "3 chữ ký"]
    assert page.locator("#pin-label").text_content() == "Mã PIN ký số (Mã PIN)"
    assert page.locator("#otp-label").text_content() == "Mã xác thực một lần (OTP)"
    assert page.locator("#sent").inner_text() == "Dịch vụ ký số vừa gửi mã OTP cho bạn."
    assert page.locator("#otp-description").inner_text() == "Mã gửi qua SMS tới số máy ***1234"
    if os.environ.get("SIGNER_SCREENSHOTS"):  # the user's guide's picture of this dialog
        page.screenshot(path=str(Path(os.environ["SIGNER_SCREENSHOTS"]) / "companion-authorise.png"), full_page=True)
    page.locator("#lang").click()
    assert page.locator("#signatures").inner_text() == "3 signature(s)"
    page.locator("#pin").fill("246810")
    page.locator("#otp").fill("135790")
    page.locator("#ok").click()
    answer = answered(page, asked)
    assert (answer.pin, answer.otp) == ("246810", "135790")
    assert "246810" not in repr(answer) and "135790" not in repr(answer)
    assert page.locator("#pin").input_value() == "" and page.locator("#otp").input_value() == ""


def test_remote_authorisation_dialog_cancelled_signs_nothing(browser, companion: Companion) -> None:
    request = AuthorisationRequest(service="ky-tap-trung", credential="cred-leader", holder="Lê Hồng Sơn",
                                   signatures=1, pin=False, otp=True)
    loop = companion.running.daemon.pin_prompts.loop
    assert loop is not None
    asked = asyncio.run_coroutine_threadsafe(companion.running.daemon.prompts.authorise(request), loop)
    page = show(browser.new_page(), companion.dialogs.next("authorise"))
    assert page.locator("#pin-row").is_hidden() and page.locator("#sent").is_hidden()
    assert page.locator("#otp-description").is_hidden()
    page.locator("#cancel").click()
    with pytest.raises(SignerError) as cancelled:
        answered(page, asked)
    assert cancelled.value.code == "USER_CANCELLED"


def test_progress_dialog_follows_a_real_batch_and_its_cancel_button_cancels(browser, page_server: str,
                                                                            companion: Companion) -> None:
    origin = {"Origin": page_server}
    total = 150  # visible blocks with validation data: seconds of work, time to press cancel
    files = [("file", f"{i:03d}.pdf", (DOCUMENTS / "reportlab-10-pages.pdf").read_bytes()) for i in range(total)]
    boundary = "tray-batch"
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{f}"; filename="{n}"\r\n'
                    f"Content-Type: application/pdf\r\n\r\n".encode() + data + b"\r\n" for f, n, data in files)
    body += f"--{boundary}--\r\n".encode()
    created = call("POST", f"{companion.running.url}/v1/batches?profile=plain&level=B-LT",
                   headers={**origin, "Content-Type": f"multipart/form-data; boundary={boundary}"}, body=body)
    assert created.status == 201, created.body
    batch_id = created.json()["id"]
    consent = show(browser.new_page(), companion.dialogs.next("consent"))
    assert consent.locator(".document").count() == total
    assert consent.locator("#operation").inner_text() == f"Ký số {total} tài liệu (một lần duyệt cho cả lô)"
    assert consent.locator(".document td").nth(1).inner_text() == "10"
    consent.locator("#once").click()
    pin = show(browser.new_page(), companion.dialogs.next("pin"))
    pin.locator("#pin").fill(LEADER_PIN)
    pin.locator("#ok").click()
    progress = show(browser.new_page(), companion.dialogs.next("progress"))
    assert progress.locator("#origin").inner_text() == page_server
    progress.wait_for_selector("tr.item[data-state=signed]")
    progress.locator("#cancel").click()
    progress.wait_for_selector("text=Đã hủy lô.")
    status = call("GET", f"{companion.running.url}/v1/batches/{batch_id}", headers=origin).json()
    assert status["state"] == "cancelled"
    states = {i["state"] for i in status["items"]}
    assert states == {"signed", "cancelled"}, states
    shown = progress.locator("tr.item[data-state=signed]").count()
    assert shown == status["done"], "every signed document is shown as signed"


def test_an_unanswered_consent_dialog_refuses_in_time(browser, page_server: str, dev_env: DevEnv,
                                                      tmp_path: Path) -> None:
    with Companion(dev_env, tmp_path, page_server, consent_timeout_s=8) as companion:  # time to show it
        caller = ask_to_sign(browser, page_server, companion, "/v1/sign/pdf")
        dialog = show(browser.new_page(), companion.dialogs.next("consent"))
        assert "giây" in dialog.locator("#countdown").inner_text()
        outcome = wait_outcome(caller)
        assert (outcome["status"], outcome["code"]) == (403, "CONSENT_DENIED")
        dialog.wait_for_selector("text=Hết thời gian: yêu cầu đã bị từ chối.")
        assert dialog.locator("#once").is_disabled()
        assert dialog.locator("#once").evaluate("b => b.disabled")
        bridge_closed = companion.dialogs.closed
        assert bridge_closed and bridge_closed[-1].kind == "consent", "the companion closes the window"


def test_one_consent_dialog_per_origin_a_second_request_is_busy(browser, page_server: str,
                                                                companion: Companion) -> None:
    first = ask_to_sign(browser, page_server, companion, "/v1/sign/pdf")
    dialog = show(browser.new_page(), companion.dialogs.next("consent"))
    second = ask_to_sign(browser, page_server, companion, "/v1/sign/pdf")
    outcome = wait_outcome(second)
    assert (outcome["status"], outcome["code"]) == (503, "BUSY")
    assert companion.dialogs.opened.empty(), "not stacked"
    dialog.locator("#refuse").click()
    assert wait_outcome(first)["code"] == "CONSENT_DENIED"


def test_without_the_companion_consent_and_pin_fail_fast(browser, page_server: str, dev_env: DevEnv,
                                                         tmp_path: Path) -> None:
    with RunningDaemon(asking_config(dev_env, tmp_path), tmp_path, allow_origins=(page_server,),
                       unattended=(page_server,), consent_timeout_s=60) as daemon:
        for module in daemon.daemon.signing.keys.modules:
            module.logout()
        page = browser.new_page()
        page.goto(f"{page_server}/libreoffice.pdf")
        started = time.monotonic()
        page.evaluate(FETCH, [daemon.url, "/v1/sign/pdf", "libreoffice.pdf"])
        outcome = wait_outcome(page)
        assert (outcome["status"], outcome["code"]) == (403, "CONSENT_DENIED")
        assert "signer tray" in outcome["message"] and "signer tray" in outcome["message_vi"]
        daemon.daemon.consent_store.grant(page_server, ["sign"])
        page.evaluate(FETCH, [daemon.url, "/v1/sign/pdf", "libreoffice.pdf"])
        outcome = wait_outcome(page)
        assert (outcome["status"], outcome["code"]) == (401, "PIN_UNAVAILABLE")
        assert time.monotonic() - started < 30, "refused at once, not after the dialog time"


def test_consent_dialog_shows_a_repaired_document_by_its_rewrite(browser, page_server: str,
                                                                 companion: Companion) -> None:
    """A damaged but readable PDF: the dialog shows the digest of what will be signed (the
    rewrite) and says that it was repaired."""
    caller = ask_to_sign(browser, page_server, companion, document="damaged/stream-dictionary.pdf")
    dialog = show(browser.new_page(), companion.dialogs.next("consent"))
    damaged = hashlib.sha256((DOCUMENTS / "damaged" / "stream-dictionary.pdf").read_bytes()).hexdigest()
    shown = dialog.locator(".document .digest").inner_text()
    assert len(shown) == 64 and shown != damaged
    assert "đã được sửa" in dialog.locator(".document").inner_text()
    dialog.locator("#lang").click()
    assert "repaired" in dialog.locator(".document").inner_text()
    dialog.locator("#refuse").click()
    assert wait_outcome(caller)["code"] == "CONSENT_DENIED"
