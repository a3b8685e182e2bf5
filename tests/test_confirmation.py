"""A remembered consent lets a site ask, not sign unseen: each signing request from a page is
confirmed by the official in the companion's dialog (real Chromium, real daemon, real channel,
SoftHSM), unless the configuration exempts the origin; and a token's login ends when idle and
when the companion quits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import DOCUMENTS, DevEnv, pdfsig
from daemon_harness import RunningDaemon
from http_client import call
from test_tray_dialogs import (  # noqa: F401 (fixtures)
    LEADER_PIN,
    BrowserDialogs,
    Companion,
    ask_to_sign,
    asking_config,
    browser,
    page_server,
    show,
    wait_outcome,
)

from policies.origins import normalize_origin
from tray.bridge import DialogBridge
from tray.core import TrayCore

REASON = "Tôi đồng ý chuyển 10 tỷ đồng"
LOCATION = "Hà Nội"
TOKEN_WORK = {"_login", "_sign_if_ready", "_sign_on_worker"}  # what a signature does on the token


@pytest.fixture
def companion(dev_env: DevEnv, page_server: str, tmp_path: Path) -> Iterator[Companion]:  # noqa: F811
    with Companion(dev_env, tmp_path, page_server) as running:
        running.running.daemon.consent_store.grant(page_server, ["sign"])  # "always allow", chosen earlier
        yield running


def signing_path() -> str:
    return f"/v1/sign/pdf?profile=approved&reason={quote(REASON)}&location={quote(LOCATION)}"


def audit_of(running: RunningDaemon, count: int) -> list[dict]:
    return [line for line in running.audit_settled(count) if line["operation"].startswith("POST /v1/sign/pdf")]


@pytest.mark.browser
def test_with_always_allow_each_request_shows_the_confirmation_refused_signs_nothing(
        browser, page_server: str, companion: Companion) -> None:  # noqa: F811
    running = companion.running
    caller = ask_to_sign(browser, page_server, companion, signing_path())
    bridge = companion.dialogs.next("consent")
    assert bridge.confirming
    dialog = show(browser.new_page(), bridge)
    assert dialog.locator("#title").inner_text() == "Xác nhận ký số"
    assert dialog.locator("#origin").inner_text() == page_server
    assert dialog.locator("#reason").inner_text() == REASON
    assert dialog.locator("#location").inner_text() == LOCATION
    digest = hashlib.sha256((DOCUMENTS / "libreoffice.pdf").read_bytes()).hexdigest()
    assert dialog.locator(".document .digest").inner_text() == digest
    assert dialog.locator(".document td").nth(1).inner_text() == "1"  # pages
    assert dialog.locator("#preview").get_attribute("src").startswith("data:image/png;base64,")
    holder = running.daemon.signing.keys.token_key(None).certificate.subject.native["common_name"]
    assert dialog.locator("#holder").inner_text() == holder
    assert (dialog.locator("#once").inner_text(), dialog.locator("#refuse").inner_text()) == ("Ký", "Từ chối")
    assert dialog.locator("#always").is_hidden(), "a confirmation is never remembered"
    assert not bridge.answer("always"), "nor can the page's script of the dialog make it so"
    dialog.locator("#lang").click()
    assert (dialog.locator("#once").inner_text(), dialog.locator("#refuse").inner_text()) == ("Sign", "Refuse")
    assert dialog.locator("#title").inner_text() == "Confirm the signature"
    dialog.locator("#refuse").click()

    outcome = wait_outcome(caller)
    assert (outcome["status"], outcome["code"]) == (403, "CONSENT_DENIED")
    assert companion.dialogs.opened.empty(), "no PIN dialog after a refusal"
    assert not TOKEN_WORK & set(running.token_functions), running.token_functions
    key = running.daemon.signing.keys.token_key(None)
    assert key.module.worker.run(key.module.key_ready, key.ref) is None, "not logged in"
    [line] = audit_of(running, 1)
    assert (line["result"], line["confirmation"]) == ("CONSENT_DENIED", "refused")
    assert running.daemon.consent_store.granted(page_server, "sign"), "the consent itself stands"


@pytest.mark.browser
def test_a_confirmed_request_signs_and_its_pin_dialog_names_the_site(
        browser, page_server: str, companion: Companion, tmp_path: Path) -> None:  # noqa: F811
    running = companion.running
    for _ in range(2):  # every request, not only the first after the consent
        caller = ask_to_sign(browser, page_server, companion, signing_path())
        confirmation = show(browser.new_page(), companion.dialogs.next("consent"))
        assert confirmation.locator("#reason").inner_text() == REASON
        confirmation.locator("#once").click()
        if not any(f == "_login" for f in running.token_functions):
            pin = show(browser.new_page(), companion.dialogs.next("pin"))
            assert pin.locator("#origin").inner_text() == page_server
            assert pin.locator("#operation").inner_text() == "Ký số tài liệu"
            pin.locator("#pin").fill(LEADER_PIN)
            pin.locator("#ok").click()
        outcome = wait_outcome(caller)
        assert outcome["status"] == 200, outcome
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(base64.b64decode(outcome["pdf"]))
    assert "Signature is Valid." in pdfsig(signed)
    assert companion.dialogs.opened.empty()
    lines = audit_of(running, 2)
    assert [(line["result"], line["confirmation"]) for line in lines] == [("OK", "confirmed")] * 2


def test_a_consent_dialog_is_the_confirmation_of_its_own_request(dev_env: DevEnv, tmp_path: Path) -> None:
    """First use: the one consent dialog is the confirmation, no second dialog."""
    from companion_harness import answering_companion

    page = "https://qlvb.example.gov.vn"
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(page,)) as running, \
            answering_companion(running.settings.server.state_dir, "always") as core:
        asked: list[DialogBridge] = []
        core.dialogs.open = lambda bridge, answer=core.dialogs.open: (asked.append(bridge), answer(bridge))
        reply = call("POST", f"{running.url}/v1/sign/pdf", headers={"Origin": page, "Content-Type": "application/pdf"},
                     body=(DOCUMENTS / "libreoffice.pdf").read_bytes())
        assert reply.status == 200, reply.body
        assert [b.confirming for b in asked] == [False], "one dialog: the consent"
        [line] = audit_of(running, 1)
        assert (line["result"], line["confirmation"]) == ("OK", "confirmed")


def test_an_unattended_origin_signs_without_a_dialog_and_the_audit_says_exempt(dev_env: DevEnv,
                                                                               tmp_path: Path) -> None:
    page = "https://kiosk.example.gov.vn"
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(page,), unattended=(page,)) as running:
        running.daemon.consent_store.grant(page, ["sign"])
        dialogs = BrowserDialogs()
        core = TrayCore(running.settings.server.state_dir, dialogs)
        core.start()
        try:
            assert core.connected.wait(10), core.error
            reply = call("POST", f"{running.url}/v1/sign/pdf?reason={quote(REASON)}",
                         headers={"Origin": page, "Content-Type": "application/pdf"},
                         body=(DOCUMENTS / "libreoffice.pdf").read_bytes())
            assert reply.status == 200, reply.body
            assert dialogs.opened.empty(), "no dialog for an exempt origin"
        finally:
            core.stop()
        local = call("POST", f"{running.url}/v1/sign/pdf", headers={**running.auth, "Content-Type": "application/pdf"},
                     body=(DOCUMENTS / "libreoffice.pdf").read_bytes())
        assert local.status == 200, "an API-token client is not a browser: no confirmation"
        exempt, by_token = audit_of(running, 2)
        assert (exempt["origin"], exempt["result"], exempt["confirmation"]) == (normalize_origin(page), "OK", "exempt")
        assert by_token["confirmation"] is None


def test_origins_list_shows_the_exemption(dev_env: DevEnv, tmp_path: Path) -> None:
    config = tmp_path / "signer.toml"
    development = 'unattended = ["http://localhost:3000", "http://127.0.0.1:3000"]'
    assert development in dev_env.signer_config.read_text()
    config.write_text(dev_env.signer_config.read_text().replace(development,
                                                                'unattended = ["https://Kiosk.example.gov.vn"]'))
    env = {**dev_env.env(), "SIGNER_CONFIG": str(config)}
    listed = subprocess.run([sys.executable, "-m", "signer", "origins", "list"], env=env, capture_output=True,
                            text=True)
    assert listed.returncode == 0, listed.stderr
    assert "https://kiosk.example.gov.vn:443  miễn xác nhận / exempt" in listed.stdout
    as_json = subprocess.run([sys.executable, "-m", "signer", "origins", "list", "--json"], env=env,
                             capture_output=True, text=True)
    assert json.loads(as_json.stdout)["unattended"] == ["https://kiosk.example.gov.vn:443"]
    bad = config.read_text().replace('"https://Kiosk.example.gov.vn"', '"kiosk"')
    config.write_text(bad)
    refused = subprocess.run([sys.executable, "-m", "signer", "origins", "list"], env=env, capture_output=True,
                             text=True)
    assert refused.returncode != 0 and "[consent] unattended: not a web origin" in refused.stderr


def test_the_development_configuration_exempts_its_development_origins(dev_env: DevEnv) -> None:
    listed = subprocess.run([sys.executable, "-m", "signer", "origins", "list", "--json"],
                            env={**dev_env.env(), "SIGNER_CONFIG": str(dev_env.signer_config)},
                            capture_output=True, text=True)
    assert json.loads(listed.stdout)["unattended"] == ["http://localhost:3000", "http://127.0.0.1:3000"]


# -- login sessions ----------------------------------------------------------------------


class PinDialogs:
    """The scripted official: types the PIN in every PIN dialog and counts them."""

    def __init__(self) -> None:
        self.asked: list[dict] = []

    def open(self, bridge: DialogBridge) -> None:
        if bridge.kind == "pin":
            self.asked.append(bridge.state()["data"])
            threading.Thread(target=bridge.submit_pin, args=(LEADER_PIN,), daemon=True).start()

    def close(self, bridge: DialogBridge) -> None:
        pass


PAGE = "https://qlvb.example.gov.vn"


def sign(running: RunningDaemon) -> None:
    reply = call("POST", f"{running.url}/v1/sign/pdf", headers={"Origin": PAGE, "Content-Type": "application/pdf"},
                 body=(DOCUMENTS / "libreoffice.pdf").read_bytes())
    assert reply.status == 200, reply.body


def wait_logged_out(running: RunningDaemon) -> None:
    key = running.daemon.signing.keys.token_key(None)
    deadline = time.monotonic() + 60
    while key.module.worker.run(key.module.key_ready, key.ref) is not None:
        assert time.monotonic() < deadline, "the login did not end"
        time.sleep(0.1)


def asking_daemon(dev_env: DevEnv, tmp_path: Path, login_idle_s: float) -> RunningDaemon:
    return RunningDaemon(asking_config(dev_env, tmp_path), tmp_path, allow_origins=(PAGE,), pregranted=(PAGE,),
                         unattended=(PAGE,), limits={"login_idle_s": login_idle_s})


def connected(running: RunningDaemon, dialogs: PinDialogs) -> TrayCore:
    core = TrayCore(running.settings.server.state_dir, dialogs)
    core.start()
    assert core.connected.wait(10), core.error
    deadline = time.monotonic() + 10
    while running.daemon.prompts.companion is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return core


def test_an_idle_login_ends_and_the_next_signature_asks_the_pin_again(dev_env: DevEnv, tmp_path: Path) -> None:
    with asking_daemon(dev_env, tmp_path, login_idle_s=1) as running:
        for module in running.daemon.signing.keys.modules:
            module.logout()  # the tokens may be shared in this process: start logged out
        dialogs = PinDialogs()
        core = connected(running, dialogs)
        try:
            sign(running)
            assert len(dialogs.asked) == 1
            assert (dialogs.asked[0]["origin"], dialogs.asked[0]["operation"]) == (normalize_origin(PAGE), "sign")
            wait_logged_out(running)
            sign(running)
            assert len(dialogs.asked) == 2, "the PIN is asked again after the idle time"
        finally:
            core.stop()


def test_the_login_ends_when_the_companion_quits(dev_env: DevEnv, tmp_path: Path) -> None:
    with asking_daemon(dev_env, tmp_path, login_idle_s=600) as running:
        for module in running.daemon.signing.keys.modules:
            module.logout()
        dialogs = PinDialogs()
        core = connected(running, dialogs)
        sign(running)
        sign(running)
        assert len(dialogs.asked) == 1, "logged in: one PIN for both"
        core.stop()
        wait_logged_out(running)
        core = connected(running, dialogs)
        try:
            sign(running)
            assert len(dialogs.asked) == 2, "a new companion, a new PIN"
        finally:
            core.stop()
