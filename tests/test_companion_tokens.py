"""Tokens plugged in and pulled out, as the companion shows them: its notifications (a card
in a virtual PC/SC reader, for real: pcscd, vpcd and vicc), the settings window's live list
and the dialog asking for the token (real headless Chromium, the real pages and bridge),
against a real daemon and the real channel.

    SIGNER_SCREENSHOTS=docs/images python -m pytest tests/test_companion_tokens.py

refreshes the user's guide's picture of the plug-in dialog.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import DOCUMENTS, DevEnv, pdfsig
from daemon_harness import RunningDaemon
from http_client import call
from pcsc_harness import VICC_ATR, pcscd, vicc  # noqa: F401 (pcscd: a fixture)
from playwright.sync_api import Page
from test_serve_cli import daemon_config, start
from test_tray_dialogs import BrowserDialogs, browser, show  # noqa: F401 (browser: a fixture)

from drivers.watchers.events import Observation, to_event
from policies.origins import normalize_origin
from signer.keys.watch import TokenChange
from tray.bridge import DialogBridge
from tray.core import TrayCore
from tray.notices import Notice, token_notice

GUARD_S = 60.0  # only so that a broken part fails the test instead of hanging it
BOUND_S = 10.0  # generous: the 2 s figure is measured (printed with -s, and in bench/hotplug.py), not asserted
PAGE = "https://qlvb.hanoi.example.gov.vn"
PLUGIN_SIZE = {"width": 520, "height": 460}  # the window's size (tray.app.SIZES)


def until(condition: Callable[[], object], what: str, page: Page | None = None) -> object:
    """``condition``'s first true value; with ``page``, its calls into the bridge are served
    meanwhile (Playwright's synchronous API runs them only while it is called)."""
    deadline = time.monotonic() + GUARD_S
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        if page is not None:
            page.wait_for_timeout(20)
        else:
            time.sleep(0.02)
    return found


def notice_of(core: TrayCore, kind: str, atr: str) -> Notice | None:
    return next((n for n in list(core.notifications) if n.token["kind"] == kind and n.token["atr"] == atr), None)


@contextmanager
def connected_companion(state_dir: Path, dialogs: BrowserDialogs | None = None) -> Iterator[TrayCore]:
    core = TrayCore(state_dir, dialogs or BrowserDialogs())
    core.start()
    assert core.connected.wait(10), core.error
    try:
        yield core
    finally:
        core.stop()


def test_a_card_inserted_and_removed_reaches_the_companion_with_its_atr(pcscd: int, dev_env: DevEnv,  # noqa: F811
                                                                         tmp_path: Path) -> None:
    config = tmp_path / "signer.toml"
    config.write_text(dev_env.signer_config.read_text().replace("[tokens]\n", '[tokens]\nwatch = ["pcsc"]\n', 1))
    with RunningDaemon(config, tmp_path) as daemon, connected_companion(daemon.settings.server.state_dir) as core:
        assert daemon.daemon.signing.watch.watching() == ["pcsc"], daemon.daemon.signing.watch.unavailable
        assert core.connected_tokens() == [], "no card in the reader yet"
        inserted = time.monotonic()
        card = vicc(pcscd)
        try:
            arrived = until(lambda: notice_of(core, "arrived", VICC_ATR), "no arrival notification")
            assert isinstance(arrived, Notice)
            reader = arrived.token["reader"]
            assert reader.startswith("Virtual PCD") and arrived.token["source"] == "pcsc"
            assert arrived.title == f"Đã nhận USB token {reader}" and arrived.detail is None, arrived
            [listed] = core.connected_tokens()
            assert (listed["reader"], listed["atr"]) == (reader, VICC_ATR)
            core.language = "en"  # the official switched a dialog to English
        finally:
            removed = time.monotonic()
            card.terminate()
            card.wait(GUARD_S)
        left = until(lambda: notice_of(core, "left", VICC_ATR), "no removal notification")
        assert isinstance(left, Notice)
        assert left.title == f"USB token {reader} removed" and left.token["reader"] == reader
        assert core.connected_tokens() == []
        assert [n.token["kind"] for n in core.notifications] == ["arrived", "left"]
    to_arrival, to_removal = arrived.shown_at - inserted, left.shown_at - removed
    print(f"\ncompanion notified: card inserted -> {to_arrival * 1000:.0f} ms (vicc's own start included), "
          f"card removed -> {to_removal * 1000:.0f} ms")
    assert to_arrival <= BOUND_S and to_removal <= BOUND_S


# -- the dialog asking for the token, and the settings window's list ------------------------------


def pull_out(env: DevEnv, drawer: Path) -> list[Path]:
    """Every SoftHSM token of ``env`` unplugged (its folder moved to ``drawer``); where they were."""
    drawer.mkdir(exist_ok=True)
    folders = sorted((env.dir / "tokens").iterdir())
    for folder in folders:
        folder.rename(drawer / folder.name)
    return folders


def plug_back(folders: list[Path], drawer: Path) -> None:
    for folder in folders:
        (drawer / folder.name).rename(folder)


@contextmanager
def daemon_process(env: DevEnv, folder: Path) -> Iterator[int]:
    """``signer serve`` on ``env``'s tokens, watching their PKCS#11 slots only (a card someone
    else's pcscd shows is not theirs); its HTTP port."""
    config = daemon_config(env, folder)
    config.write_text(config.read_text().replace("[tokens]\n", '[tokens]\nwatch = ["pkcs11"]\n', 1))
    process, port, _ = start(config, env, PAGE)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(30)


def sign_in_background(port: int, headers: dict[str, str], query: str = "") -> tuple[threading.Thread, dict]:
    result: dict = {}

    def sign() -> None:
        result["reply"] = call("POST", f"http://127.0.0.1:{port}/v1/sign/pdf{query}", timeout=GUARD_S,
                               headers={**headers, "Content-Type": "application/pdf"},
                               body=(DOCUMENTS / "libreoffice.pdf").read_bytes())

    thread = threading.Thread(target=sign, daemon=True)
    thread.start()
    return thread, result


def next_dialog(dialogs: BrowserDialogs, kind: str) -> DialogBridge:
    try:
        return dialogs.next(kind, timeout=GUARD_S)
    except queue.Empty:
        raise AssertionError(f"no {kind} dialog") from None


@pytest.mark.browser
def test_the_plug_in_dialog_says_who_waits_and_stop_waiting_ends_the_request(
        browser, private_tokens: DevEnv, tmp_path: Path) -> None:  # noqa: F811
    pull_out(private_tokens, tmp_path / "drawer")
    dialogs = BrowserDialogs()
    with daemon_process(private_tokens, tmp_path) as port, connected_companion(tmp_path / "state", dialogs):
        signing, result = sign_in_background(port, {"Origin": PAGE}, "?cert=leader")
        bridge = next_dialog(dialogs, "plug_in")
        dialog = show(browser.new_page(viewport=PLUGIN_SIZE), bridge)
        assert dialog.locator("h1").inner_text() == "Hãy cắm USB token để ký"
        assert dialog.locator("#origin").inner_text() == normalize_origin(PAGE)
        assert dialog.locator("#operation").inner_text() == "Ký số tài liệu"
        assert dialog.locator("#certificate").inner_text() == "leader"
        assert dialog.locator("#stop").inner_text() == "Thôi chờ"
        assert dialog.locator("#countdown").inner_text().startswith("Còn chờ ")
        assert dialog.locator("#countdown").inner_text().endswith(" giây")
        if os.environ.get("SIGNER_SCREENSHOTS"):
            dialog.screenshot(path=str(Path(os.environ["SIGNER_SCREENSHOTS"]) / "companion-plugin.png"))
        dialog.locator("#lang").click()
        assert dialog.locator("h1").inner_text() == "Plug in your USB token to sign"
        assert dialog.locator("#stop").inner_text() == "Stop waiting"
        assert "reply" not in result, "the request waits for the token"
        dialog.locator("#stop").click()
        signing.join(GUARD_S)
        reply = result["reply"]
        assert (reply.status, reply.json()["code"]) == (499, "USER_CANCELLED"), reply.body
        dialog.wait_for_selector("text=Stopped waiting: the signing request ended.")
        assert dialog.locator("#stop").is_disabled()
        until(lambda: bridge in dialogs.closed, "the dialog closes after its answer", dialog)


@pytest.mark.browser
def test_the_plug_in_dialog_closes_when_the_token_comes_and_the_signature_goes_on(
        browser, private_tokens: DevEnv, tmp_path: Path) -> None:  # noqa: F811
    folders = pull_out(private_tokens, tmp_path / "drawer")
    dialogs = BrowserDialogs()
    with daemon_process(private_tokens, tmp_path) as port, connected_companion(tmp_path / "state", dialogs) as core:
        api_token = (tmp_path / "api-token").read_text().strip()
        signing, result = sign_in_background(port, {"Authorization": f"Bearer {api_token}"})
        bridge = next_dialog(dialogs, "plug_in")
        dialog = show(browser.new_page(viewport=PLUGIN_SIZE), bridge)
        assert dialog.locator("#origin").inner_text() == "Chương trình trên máy này (mã API)"
        assert dialog.locator("#certificate-section").is_hidden(), "no certificate was named"
        plug_back(folders, tmp_path / "drawer")
        dialog.wait_for_selector("text=Đã nhận token, tiếp tục ký…")
        assert dialog.locator("#stop").is_disabled()
        signing.join(GUARD_S)
        reply = result["reply"]
        assert reply.status == 200, reply.body
        until(lambda: dialogs.closed.count(bridge) == 2, "closed by the companion, and by the page itself", dialog)
        arrivals = [n for n in core.notifications if n.token["kind"] == "arrived"]
        assert arrivals and all(n.title.startswith("Đã nhận USB token ") for n in arrivals), arrivals
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(reply.body)
    assert pdfsig(signed).count("Signature is Valid.") == 1


@pytest.mark.browser
def test_the_settings_window_lists_the_tokens_plugged_in_and_follows_them(
        browser, private_tokens: DevEnv, tmp_path: Path) -> None:  # noqa: F811
    with daemon_process(private_tokens, tmp_path), connected_companion(tmp_path / "state") as core:
        settings = show(browser.new_page(), DialogBridge(core, "settings"))
        rows = settings.locator(".token-row")
        labels = {"Token Le Hong Son", "Token VP UBND Ha Noi"}
        until(lambda: {t["label"] for t in core.connected_tokens()} >= labels, "the daemon's list")
        listed = len(core.connected_tokens())
        settings.wait_for_function(f"document.querySelectorAll('.token-row').length === {listed}")
        assert all(d.startswith("Đã cài") for d in rows.locator(".token-driver").all_inner_texts())
        assert not core.notifications, "tokens there before the companion came are listed, not announced"

        folders = pull_out(private_tokens, tmp_path / "drawer")
        settings.wait_for_selector("text=(chưa cắm token nào)")
        assert rows.count() == 0
        left = [n for n in core.notifications if n.token["kind"] == "left"]
        assert {n.token["label"] for n in left} >= labels
        assert all(n.title == f"Đã rút USB token {n.token['name']}" for n in left)

        plug_back(folders, tmp_path / "drawer")
        settings.wait_for_function(f"document.querySelectorAll('.token-row').length === {listed}")
        settings.locator("#lang").click()
        until(lambda: rows.locator(".token-driver").first.inner_text().startswith("Installed"), "English", settings)
        assert settings.locator("th", has_text="Reader / USB id").count() == 1


def test_a_notification_names_the_driver_to_install_in_the_officials_language() -> None:
    """A SafeNet eToken 5110 (its USB id, through the catalogue) whose module (SafeNet
    Authentication Client) is not installed here: the daemon's message for it, as the daemon
    makes it, gives the driver line in either language."""
    event = to_event(Observation("arrived", "usb", "1-2", usb_id=(0x0529, 0x0620)), time.time())
    token = TokenChange.of(event).as_message()
    assert token["model"] and not token["module_installed"] and token["install"], token
    vi = token_notice(token, "vi")
    assert (vi.title, vi.detail) == (f"Đã nhận USB token {token['model']}", f"Chưa cài driver: {token['install']}")
    en = token_notice({**token, "kind": "left"}, "en")
    assert (en.title, en.detail) == (f"USB token {token['model']} removed",
                                     f"Driver not installed: {token['install']}")
    unknown = TokenChange.of(to_event(Observation("arrived", "pcsc", "r", reader="Reader 0"), time.time()))
    assert token_notice(unknown.as_message(), "vi").detail is None, "an unknown card: no driver to name"
