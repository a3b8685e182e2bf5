"""Enrolment from the companion's settings window, for a token in front of the official: real
headless Chromium over the real settings page and bridge, the companion's core over the real
channel, a real ``signer serve`` on a fresh SoftHSM token of its own. The PIN is the daemon's
question, answered through the PIN dialog's bridge; the request is checked by openssl and issued
by the test CA; the loaded certificate is listed by ``signer certs``.

What stands in for the desktop: the system's save dialog (``save_file``, pywebview's in the real
companion) writes to the test's folder; the certificate file is chosen in the page's own file
input, as the official chooses it.

    SIGNER_SCREENSHOTS=docs/images python -m pytest tests/test_companion_enrol.py

refreshes the user's guide's picture of the enrolment form.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import DevEnv, signer_cli
from playwright.sync_api import Page
from test_enroll import CN, ORG, TITLE, TOKEN, fresh, issue, private_keys  # noqa: F401 (fresh: a fixture)
from test_serve_cli import daemon_config, start
from test_tray_dialogs import BrowserDialogs, browser, show  # noqa: F401 (browser: a fixture)

from tray.bridge import DialogBridge
from tray.core import TrayCore

pytestmark = pytest.mark.browser

PIN = "24682468"  # the fresh token's (test_enroll)
PAGE = "https://qlvb.hanoi.example.gov.vn"
GUARD_S = 120.0  # only so that a broken part fails the test instead of hanging it
FORM = {"label": "hang", "cn": CN, "title": TITLE, "o": ORG, "ou": "Phòng Nội vụ", "l": "Quận Hoàn Kiếm",
        "st": "Hà Nội", "email": "hang@hoankiem.gov.vn", "uid": "CCCD:001190012345"}
SUBJECT = (f"CN={CN}", f"title={TITLE}", f"O={ORG}", "OU=Phòng Nội vụ", "L=Quận Hoàn Kiếm", "ST=Hà Nội", "C=VN",
           "UID=CCCD:001190012345", "emailAddress=hang@hoankiem.gov.vn")


class DesktopDialogs(BrowserDialogs):
    """The companion's dialogs as the test's; the system's save dialog answers with a file in ``folder``."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def save_file(self, bridge: DialogBridge, name: str, data: bytes) -> str | None:
        path = self.folder / name
        path.write_bytes(data)
        return str(path)


@dataclass
class Official:
    """Types ``pin`` into each PIN dialog the daemon opens, through that dialog's bridge (the
    settings window's call waits meanwhile, and with it the test's browser)."""

    dialogs: DesktopDialogs
    pin: str
    asked: list[DialogBridge] = field(default_factory=list)  # every dialog opened, in order
    results: list[dict] = field(default_factory=list)  # each PIN's outcome, as the daemon told it
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                bridge = self.dialogs.opened.get(timeout=0.1)
            except queue.Empty:
                continue
            self.asked.append(bridge)
            if bridge.kind != "pin" or not bridge.submit_pin(self.pin):
                continue  # not a PIN dialog: the test sees it in ``asked``
            while (result := bridge.state()["result"]) is None and not self.stop.wait(0.02):
                pass
            self.results.append(result or {})


@contextmanager
def enrolling(browser, env: DevEnv, folder: Path, pin: str = PIN) -> Iterator[tuple[Page, Official]]:  # noqa: F811
    """``signer serve`` on ``env``'s token asking the official for the PIN, the companion connected
    to it, and its settings window; the official who answers the PIN dialogs."""
    config = daemon_config(env, folder)
    config.write_text(config.read_text().replace('source = "development"', 'source = "terminal"'))
    process, _, _ = start(config, env, PAGE)
    dialogs = DesktopDialogs(folder)
    core = TrayCore(folder / "state", dialogs)
    official = Official(dialogs, pin)
    answering = threading.Thread(target=official.run, daemon=True)
    try:
        core.start()
        assert core.connected.wait(10), core.error
        answering.start()
        page = browser.new_page(viewport={"width": 680, "height": 1600})  # the whole form above the footer
        yield show(page, DialogBridge(core, "settings")), official
    finally:
        official.stop.set()
        core.stop()
        process.terminate()
        process.wait(30)
        answering.join(10)


def fill(section, key: str, form: dict[str, str]) -> None:
    section.locator("summary").click()  # folded until opened
    section.locator("select[name=key]").select_option(key)
    for name, value in form.items():
        section.locator(f"input[name={name}]").fill(value)


def status(section) -> str:
    return section.locator(".enrol-status").inner_text()


def audit_lines(folder: Path) -> list[dict]:
    lines = (folder / "state" / "audit.jsonl").read_text().splitlines()
    return [entry for entry in map(json.loads, lines) if entry["operation"].startswith("enroll.")]


def test_enrol_from_the_settings_window_then_the_certificate_is_listed(browser, dev_env: DevEnv,  # noqa: F811
                                                                       fresh: DevEnv, tmp_path: Path) -> None:  # noqa: F811
    with enrolling(browser, fresh, tmp_path) as (settings, official):
        section = settings.locator(".enrol", has_text=TOKEN)
        section.wait_for(timeout=GUARD_S * 1000)
        assert section.locator("summary").inner_text().startswith(f"Đăng ký chứng thư số trên token {TOKEN}")
        fill(section, "rsa2048", FORM)
        section.locator(".create-request").click()
        section.locator(".request-pem").wait_for(state="visible", timeout=GUARD_S * 1000)
        made = re.search(r"Đã tạo yêu cầu cho khóa hang \(mã khóa ([0-9a-f]{40})\)", status(section))
        assert made, status(section)
        key_id = made.group(1)
        pem = section.locator(".request-pem").inner_text()
        assert pem.startswith("-----BEGIN CERTIFICATE REQUEST-----"), pem

        [asked] = official.asked
        assert asked.kind == "pin"
        assert official.results == [{"type": "pin_result", "id": asked.prompt_id, "ok": True}]
        pin = show(browser.new_page(), asked)  # the PIN dialog as it was shown, answered by now
        assert pin.locator("#origin").inner_text() == "Cửa sổ cài đặt ký số trên máy này"
        assert pin.locator("#operation").inner_text() == "Đăng ký chứng thư số (tạo khóa, nạp chứng thư)"
        assert (pin.locator("#token").inner_text(), pin.locator("#serial").inner_text()) == (
            TOKEN, section.get_attribute("data-serial"))
        pin.close()

        if os.environ.get("SIGNER_SCREENSHOTS"):
            section.screenshot(path=str(Path(os.environ["SIGNER_SCREENSHOTS"]) / "companion-enrol.png"))
        section.locator(".save-request").click()
        saved = tmp_path / "yeu-cau-chung-thu.pem"
        settings.wait_for_selector(f"text=Đã lưu: {saved}")
        assert saved.read_text().strip() == pem.strip()
        shown = subprocess.run(["openssl", "req", "-in", str(saved), "-verify", "-noout", "-text",
                                "-nameopt", "RFC2253,-esc_msb"], capture_output=True, text=True)
        assert shown.returncode == 0 and "verify OK" in shown.stdout + shown.stderr, shown.stderr
        subject = next(line for line in shown.stdout.splitlines() if "Subject:" in line)
        assert all(part in subject for part in SUBJECT), subject
        assert "Signature Algorithm: sha256WithRSAEncryption" in shown.stdout
        (block,) = private_keys(fresh)
        assert f"ID:         {key_id}" in block

        certificate = issue(dev_env, saved, tmp_path / "hang.cert.pem")
        section.locator(".certificate-file").set_input_files(str(certificate))
        section.locator(".chain-files").set_input_files(str(dev_env.interm_cert))
        section.locator(".load-certificate").click()
        settings.wait_for_selector(f"text=Đã nạp chứng thư số hang (mã khóa {key_id}) lên token.",
                                   timeout=GUARD_S * 1000)
        deadline = time.monotonic() + GUARD_S  # a PIN's outcome reaches the companion on its own message
        while len(official.results) < len(official.asked) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [b.kind for b in official.asked] == ["pin"] * len(official.results), "only PIN dialogs"
        assert all(result["ok"] for result in official.results), official.results

    listed = json.loads(signer_cli("certs", "--json", env=fresh.env()).stdout)
    assert [(c["label"], c["key_id"], c["common_name"]) for c in listed] == [("hang", key_id, CN)]
    assert [(e["origin"], e["operation"], e["result"]) for e in audit_lines(tmp_path)] == [
        ("companion", "enroll.request", "OK"), ("companion", "enroll.import", "OK")]


def test_a_certificate_for_another_key_is_refused_in_both_languages(browser, dev_env: DevEnv,  # noqa: F811
                                                                    fresh: DevEnv, tmp_path: Path) -> None:  # noqa: F811
    with enrolling(browser, fresh, tmp_path) as (settings, official):
        section = settings.locator(".enrol", has_text=TOKEN)
        section.wait_for(timeout=GUARD_S * 1000)
        fill(section, "p256", {"label": "dau", "cn": CN})
        section.locator(".create-request").click()
        section.locator(".request-pem").wait_for(state="visible", timeout=GUARD_S * 1000)
        request = tmp_path / "p256.req"
        request.write_text(section.locator(".request-pem").inner_text())
        shown = subprocess.run(["openssl", "req", "-in", str(request), "-verify", "-noout", "-text"],
                               capture_output=True, text=True)
        assert shown.returncode == 0 and "ecdsa-with-SHA256" in shown.stdout, shown.stderr

        other = dev_env.dir / "pki" / "certs" / "leader.cert.pem"  # a real certificate, for a key not on this token
        section.locator(".certificate-file").set_input_files(str(other))
        section.locator(".load-certificate").click()
        refusal = section.locator(".enrol-status .notice.danger")
        refusal.wait_for(timeout=GUARD_S * 1000)
        assert refusal.inner_text() == ("Không thực hiện được (KEY_NOT_FOUND): "
                                        "Token không có khóa bí mật cho chứng thư số này")
        settings.locator("#lang").click()
        settings.wait_for_function("document.querySelector('.enrol-status').innerText === "
                                   "'Not done (KEY_NOT_FOUND): The token has no private key for this certificate'")
        assert section.locator("summary").inner_text().startswith(f"Enrol a certificate on token {TOKEN}")

    assert json.loads(signer_cli("certs", "--json", env=fresh.env()).stdout) == []
    assert [(e["operation"], e["result"]) for e in audit_lines(tmp_path)] == [
        ("enroll.request", "OK"), ("enroll.import", "KEY_NOT_FOUND")]


def test_a_wrong_pin_is_shown_with_the_tokens_flags_and_not_retried(browser, fresh: DevEnv,  # noqa: F811
                                                                     tmp_path: Path) -> None:
    with enrolling(browser, fresh, tmp_path, pin="99999999") as (settings, official):
        section = settings.locator(".enrol", has_text=TOKEN)
        section.wait_for(timeout=GUARD_S * 1000)
        fill(section, "p256", {"label": "hang", "cn": CN})
        section.locator(".create-request").click()
        refusal = section.locator(".enrol-status .notice.danger")
        refusal.wait_for(timeout=GUARD_S * 1000)
        assert refusal.inner_text().startswith("Không thực hiện được (PIN_INCORRECT)")
        [result] = official.results
        assert (result["ok"], result["code"], result["count_low"]) == (False, "PIN_INCORRECT", True), result
        [asked] = official.asked
        assert asked.kind == "pin", "a wrong PIN is not asked again"
        pin = show(browser.new_page(), asked)
        pin.wait_for_selector("text=Sai mã PIN")
        assert "Số lần thử còn lại không nhiều." in pin.locator("#status").inner_text()  # the token's count-low flag
        assert section.locator(".request-pem").is_hidden()
    assert private_keys(fresh) == []
    assert [(e["operation"], e["result"]) for e in audit_lines(tmp_path)] == [("enroll.request", "PIN_INCORRECT")]
