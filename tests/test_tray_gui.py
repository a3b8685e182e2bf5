"""Smoke test of the real companion: ``signer tray`` with pywebview's Qt backend on a virtual
screen (Xvfb), connected to a real daemon. Each dialog opens from a real request, is seen
as a window on the screen and photographed.

    SIGNER_SCREENSHOTS=docs/images python -m pytest tests/test_tray_gui.py

refreshes the pictures of the user's guide.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import DOCUMENTS, DevEnv
from daemon_harness import RunningDaemon
from http_client import call
from test_tray_dialogs import asking_config

from drivers.pins import DevelopmentPinSource

pytestmark = pytest.mark.gui

PAGE = "https://qlvb.hanoi.example.gov.vn"
# the windows' titles are "Vietnamese / English"; the English half is matched (xwininfo's encoding varies)
TITLES = {"settings": "/ Signing settings", "consent": "/ Signing request", "pin": "/ Enter the PIN",
          "progress": "/ Batch progress"}


class Screen:
    """A virtual X screen."""

    def __enter__(self) -> Screen:
        self.process = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.display = f":{self.process.stdout.readline().strip()}"
        self.panel = None
        return self

    def with_system_tray(self) -> None:
        """A panel with a system tray (trayer) along the top edge, for the icon to dock in."""
        self.panel = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel",
                                       "--width", "120", "--height", "32", "--transparent", "false"],
                                      env={**os.environ, "DISPLAY": self.display},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_for("panel", settle_s=0.5)

    def __exit__(self, *exc: object) -> None:
        for process in (self.panel, self.process):
            if process is not None:
                process.terminate()
                process.wait(10)

    def windows(self) -> str:
        return subprocess.run(["xwininfo", "-root", "-tree"], env={**os.environ, "DISPLAY": self.display},
                              capture_output=True, text=True, errors="replace").stdout

    def wait_for(self, title: str, timeout: float = 60, settle_s: float = 2.5) -> None:
        deadline = time.monotonic() + timeout
        while title not in self.windows():
            assert time.monotonic() < deadline, f"no window {title!r}:\n{self.windows()}"
            time.sleep(0.2)
        time.sleep(settle_s)  # the page inside renders after the window maps

    def gone(self, title: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while title in self.windows():
            assert time.monotonic() < deadline, f"window {title!r} still open"
            time.sleep(0.2)

    def shoot(self, path: Path) -> None:
        subprocess.run(["import", "-window", "root", str(path)], env={**os.environ, "DISPLAY": self.display},
                       check=True, timeout=30)
        assert path.stat().st_size > 5000, "a blank screen"


def in_background(work) -> dict:
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("reply", work()), daemon=True)
    thread.start()
    result["thread"] = thread
    return result


def upload(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "gui-batch"
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                    f"Content-Type: application/pdf\r\n\r\n".encode() + data + b"\r\n" for name, data in files)
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_tray_windows_open_under_xvfb_with_the_qt_backend(dev_env: DevEnv, tmp_path: Path) -> None:
    shots = Path(os.environ.get("SIGNER_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with Screen() as screen, RunningDaemon(asking_config(dev_env, tmp_path), tmp_path, allow_origins=(PAGE,),
                                           unattended=(PAGE,), consent_timeout_s=10) as daemon:
        screen.with_system_tray()
        for module in daemon.daemon.signing.keys.modules:
            module.logout()
        config = tmp_path / "tray.toml"
        config.write_text(asking_config(dev_env, tmp_path).read_text().replace(
            "[server]\n", f'[server]\nstate_dir = "{daemon.settings.server.state_dir}"\n'))
        env = {**os.environ, "DISPLAY": screen.display, "SIGNER_CONFIG": str(config)}
        if os.geteuid() == 0:
            env["QTWEBENGINE_DISABLE_SANDBOX"] = "1"  # Chromium's sandbox refuses to run as root
        tray = subprocess.Popen([sys.executable, "-m", "signer", "tray", "--gui", "qt", "--settings"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        try:
            screen.wait_for(TITLES["settings"])
            assert daemon.daemon.prompts.companion is not None, "the companion connected"
            screen.wait_for("/ Running", settle_s=0)  # the icon, docked, titled with the daemon's status
            screen.shoot(shots / "companion-settings.png")

            page = {"Origin": PAGE, "Content-Type": "application/pdf"}
            document = (DOCUMENTS / "libreoffice.pdf").read_bytes()
            consent = in_background(lambda: call("POST", f"{daemon.url}/v1/sign/pdf?profile=approved",
                                                 headers=page, body=document))
            screen.wait_for(TITLES["consent"])
            screen.shoot(shots / "companion-consent.png")
            consent["thread"].join(30)
            assert consent["reply"].code == "CONSENT_DENIED", "unanswered: refused in time"
            screen.gone(TITLES["consent"])

            daemon.daemon.consent_store.grant(PAGE, ["sign"])
            pin = in_background(lambda: call("POST", f"{daemon.url}/v1/sign/pdf", headers=page, body=document))
            screen.wait_for(TITLES["pin"])
            screen.shoot(shots / "companion-pin.png")
            pin["thread"].join(30)
            assert pin["reply"].code == "USER_CANCELLED", "no PIN typed: cancelled in time, not retried"
            screen.gone(TITLES["pin"])

            key = daemon.daemon.signing.keys.token_key(None)  # logged in here: the batch needs no PIN dialog
            key.module.prepare_key(key.ref, DevelopmentPinSource(daemon.settings.pin.development_pins,
                                                                 development=True))
            body, content_type = upload([(f"cong-van-{i:02d}.pdf", (DOCUMENTS / "reportlab-10-pages.pdf").read_bytes())
                                         for i in range(12)])
            created = call("POST", f"{daemon.url}/v1/batches?level=B-B",
                           headers={"Origin": PAGE, "Content-Type": content_type}, body=body)
            assert created.status == 201, created.body
            screen.wait_for(TITLES["progress"])
            deadline = time.monotonic() + 60
            while call("GET", f"{daemon.url}/v1/batches/{created.json()['id']}",
                       headers={"Origin": PAGE}).json()["state"] == "running":
                assert time.monotonic() < deadline
                time.sleep(0.2)
            time.sleep(1)
            screen.shoot(shots / "companion-progress.png")
        finally:
            tray.terminate()
            output = tray.communicate(timeout=30)[0]
        assert "Traceback" not in output, output


def test_tray_icon_menu_shows_status_and_activity_and_revokes(dev_env: DevEnv, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The icon's menu, built by pystray on a virtual screen from the daemon's answers."""
    from test_tray_dialogs import BrowserDialogs

    from policies.origins import normalize_origin
    from tray.app import TrayIcon
    from tray.core import TrayCore

    with Screen() as screen, RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(PAGE,)) as daemon:
        monkeypatch.setenv("DISPLAY", screen.display)
        signed = call("POST", f"{daemon.url}/v1/sign/pdf", headers={**daemon.auth, "Content-Type": "application/pdf"},
                      body=(DOCUMENTS / "libreoffice.pdf").read_bytes())
        assert signed.status == 200
        daemon.daemon.consent_store.grant(PAGE, ["sign"])
        dialogs, quits = BrowserDialogs(), []
        core = TrayCore(daemon.settings.server.state_dir, dialogs)
        core.start()
        try:
            assert core.connected.wait(10), core.error
            icon = TrayIcon(core, dialogs, daemon.settings.server.state_dir, lambda: quits.append(True))
            icon.status = core.status()
            items = list(icon._items())
            assert [str(i.text) for i in items][1:] == [
                "Hoạt động gần đây / Recent activity", "Trang web được phép / Allowed websites", "Cài đặt / Settings",
                "Mở nhật ký / Open logs", "Thoát / Quit"]
            assert str(items[0].text).startswith("Đang chạy / Running · token: 2")
            activity = [str(i.text) for i in items[1].submenu.items]
            assert any("POST /v1/sign/pdf OK" in line for line in activity), activity
            origins = list(items[2].submenu.items)
            assert [str(i.text) for i in origins] == [normalize_origin(PAGE)]
            origins[0].submenu.items[0](icon.icon)  # Thu hồi / Revoke
            assert not daemon.daemon.consent_store.granted(PAGE, "sign")
            items[3](icon.icon)  # the default action too: settings
            assert dialogs.next("settings", timeout=5).kind == "settings"
            items[5](icon.icon)
            assert quits == [True]
            del icon, items, origins  # the X resources go before the screen does
            gc.collect()
        finally:
            core.stop()
