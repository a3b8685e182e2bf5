"""``signer tray``: the desktop companion. Dialogs in pywebview windows, a tray icon with
the daemon's status and a menu (recent activity, allowed websites with revoke, settings,
logs, quit). The GUI toolkits are imported here only, when the companion starts.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path
from typing import Any

from .bridge import DialogBridge
from .channel import ChannelError
from .core import TrayCore
from .notices import Notice

DIALOGS = Path(__file__).parent / "dialogs"
SIZES = {"consent": (640, 720), "pin": (460, 440), "authorise": (480, 600), "plug_in": (520, 460),
         "progress": (560, 560), "settings": (680, 620)}
PLACING_SIZE = (760, 940)  # a consent dialog that shows a page to place the block on
TITLES = {"consent": "Yêu cầu ký số / Signing request", "pin": "Nhập mã PIN / Enter the PIN",
          "authorise": "Cấp phép ký từ xa / Authorise remote signing",
          "plug_in": "Cắm USB token / Plug in the token", "progress": "Tiến độ ký lô / Batch progress",
          "settings": "Cài đặt ký số / Signing settings"}
PAGES = {"plug_in": "plugin"}  # a prompt kind whose page is named otherwise
CONFIRM_TITLE = "Xác nhận ký số / Confirm the signature"
STATUS_EVERY_S = 5.0


def dialog_page(kind: str) -> Path:
    return DIALOGS / f"{PAGES.get(kind, kind)}.html"


class WebviewDialogs:
    """Each dialog in its own pywebview window, on top, given its bridge as ``js_api``."""

    def __init__(self) -> None:
        import webview  # the GUI toolkit loads with the companion, not with the daemon

        self.webview = webview
        self._windows: dict[int, Any] = {}

    def open(self, bridge: DialogBridge) -> None:
        width, height = PLACING_SIZE if bridge.placing else SIZES[bridge.kind]
        title = CONFIRM_TITLE if bridge.confirming else TITLES[bridge.kind]
        window = self.webview.create_window(title, str(dialog_page(bridge.kind)), js_api=bridge,
                                             width=width, height=height, on_top=True)
        if window is None:  # pywebview could not make it: nobody can answer this prompt
            raise RuntimeError(f"no window for the {bridge.kind} dialog")
        self._windows[id(bridge)] = window
        window.events.closed += lambda: self._closed(bridge)

    def close(self, bridge: DialogBridge) -> None:
        window = self._windows.pop(id(bridge), None)
        if window is not None:
            window.destroy()

    def save_file(self, bridge: DialogBridge, name: str, data: bytes) -> str | None:
        """The system's save dialog over the bridge's window; the file written where it says."""
        window = self._windows.get(id(bridge))
        if window is None:
            return None
        chosen = window.create_file_dialog(self.webview.FileDialog.SAVE, save_filename=name)
        if not chosen:
            return None
        path = Path(chosen if isinstance(chosen, str) else chosen[0])  # a path, or a tuple of one (by toolkit)
        path.write_bytes(data)
        return str(path)

    def _closed(self, bridge: DialogBridge) -> None:
        if self._windows.pop(id(bridge), None) is not None:  # closed by the official, not by us
            bridge.dismissed()


class TrayIcon:
    """The icon and its menu (pystray)."""

    def __init__(self, core: TrayCore, dialogs: WebviewDialogs, state_dir: Path, quit_app) -> None:
        import pystray

        self._pystray = pystray
        self.core = core
        self.dialogs = dialogs
        self.state_dir = state_dir
        self.quit_app = quit_app
        self.status: dict[str, Any] = {}
        # plain X (pystray's fallback) takes Latin-1 titles only, and shows no menu: a click opens the settings
        self._plain_x = pystray.Icon.__module__.endswith("_xorg")
        self.icon = pystray.Icon("signer", _icon_image(), self._title("Ký số / Signer"), menu=pystray.Menu(self._items))

    def start(self) -> None:
        if self._plain_x and not _x_system_tray():
            raise RuntimeError("no system tray on this display")
        self.icon.run_detached()
        if self.icon.HAS_NOTIFICATION:  # tokens plugged in and pulled out, where the backend can show it
            self.core.notify = self._notify
        threading.Thread(target=self._follow_status, name="tray-status", daemon=True).start()

    def stop(self) -> None:
        self.core.notify = None
        self.icon.stop()

    def _follow_status(self) -> None:
        while not self.core.stopped.wait(STATUS_EVERY_S):
            try:
                self.status = self.core.status()
            except (ChannelError, OSError):  # TimeoutError and a reset connection included
                self.status = {}
            if self.icon.visible:  # pystray keeps a title set before the icon shows, but never draws it
                try:
                    self._show_title(status_line(self.status))
                    self.icon.update_menu()
                except Exception:  # noqa: BLE001 - the icon's backend failing once must not end the updates
                    logging.getLogger(__name__).warning("tray_title_update_failed", exc_info=True)

    def _notify(self, notice: Notice) -> None:
        self.icon.notify(notice.detail or notice.title, notice.title if notice.detail else None)

    def _show_title(self, text: str) -> None:
        if not self._plain_x:
            self.icon.title = text
            return
        # pystray's plain-X backend hands a new title to its event thread and waits for that thread's
        # answer, a wait that was seen to last for good (the icon kept its first title); the title is a
        # property of the icon's own window, set here directly on the icon's display connection
        self.icon._title = latin(text)
        self.icon._window.set_wm_name(latin(text))
        self.icon._display.flush()

    def _title(self, text: str) -> str:
        return latin(text) if self._plain_x else text

    def _items(self):
        item, menu = self._pystray.MenuItem, self._pystray.Menu
        yield item(status_line(self.status), None, enabled=False)
        yield item("Hoạt động gần đây / Recent activity", menu(self._activity))
        yield item("Trang web được phép / Allowed websites", menu(self._origins))
        yield item("Cài đặt / Settings", lambda: self.dialogs.open(DialogBridge(self.core, "settings")), default=True)
        yield item("Mở nhật ký / Open logs", lambda: open_folder(self.state_dir))
        yield item("Thoát / Quit", lambda: self.quit_app())

    def _activity(self):
        try:
            entries = self.core.activity()
        except (ChannelError, TimeoutError):
            entries = []
        for entry in entries or [{"time": "", "origin": "", "operation": "(trống / none)", "result": ""}]:
            text = f"{entry['time'][:19]} {entry['origin']} {entry['operation']} {entry['result']}".strip()
            yield self._pystray.MenuItem(text, None, enabled=False)

    def _origins(self):
        try:
            origins = [o for o in self.core.settings()["origins"] if o["scopes"]]
        except (ChannelError, TimeoutError):
            origins = []
        if not origins:
            yield self._pystray.MenuItem("(chưa có / none)", None, enabled=False)
        for entry in origins:
            yield self._pystray.MenuItem(entry["origin"], self._pystray.Menu(self._pystray.MenuItem(
                "Thu hồi / Revoke", self._revoker(entry["origin"]))))

    def _revoker(self, origin: str):
        return lambda: self.core.revoke(origin)


def latin(text: str) -> str:
    """Vietnamese without its diacritics (for toolkits limited to Latin-1)."""
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in plain if not unicodedata.combining(c)).encode("latin-1", "replace").decode("latin-1")


def status_line(status: dict[str, Any]) -> str:
    if not status:
        return "Không kết nối được dịch vụ ký số / Signing service not reachable"
    return (f"Đang chạy / Running · token: {len(status.get('tokens', []))} · "
            f"chờ / pending: {status.get('pending', 0)} · lô / batches: {status.get('batches', 0)}")


def open_folder(path: Path) -> None:
    if sys.platform == "win32":
        os.startfile(path)  # noqa: S606 (the official's own folder)
    else:
        subprocess.Popen(["open" if sys.platform == "darwin" else "xdg-open", str(path)])


def _x_system_tray() -> bool:
    """Whether a system tray owns the X display's tray selection (pystray cannot dock otherwise)."""
    from Xlib import X, display

    screen = display.Display()
    try:
        tray = screen.intern_atom(f"_NET_SYSTEM_TRAY_S{screen.get_default_screen()}")
        return screen.get_selection_owner(tray) != X.NONE
    finally:
        screen.close()


def _icon_image():
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 4, 60, 60), radius=12, fill=(11, 92, 173, 255))
    draw.line((18, 34, 28, 44, 46, 20), fill=(255, 255, 255, 255), width=7)
    return image


def run(state_dir: Path, *, icon: bool = True, gui: str | None = None, open_settings: bool = False) -> str | None:
    """Run the companion until Quit (or until the daemon stops); what went wrong when the
    daemon cannot be reached, else None."""
    dialogs = WebviewDialogs()
    core = TrayCore(state_dir, dialogs)
    core.start()
    while not (core.connected.wait(0.1) or core.stopped.is_set()):
        pass
    if core.stopped.is_set():
        return core.error or "the channel closed"
    webview = dialogs.webview
    tray: TrayIcon | None = None

    def quit_app() -> None:
        core.stop()
        for window in list(webview.windows):
            window.destroy()

    if icon:
        try:
            tray = TrayIcon(core, dialogs, state_dir, quit_app)
            tray.start()
        except Exception as exc:  # no system tray on this desktop (or no display for it): dialogs still work
            print(f"Không có khay hệ thống / no system tray: {exc}", file=sys.stderr)
            tray = None
    if open_settings:
        dialogs.open(DialogBridge(core, "settings"))
    # pywebview needs a window to start its loop: a hidden one that lives as long as the companion
    webview.create_window("signer", html="<!doctype html><title>signer</title>", hidden=True)
    def quit_when_stopped() -> None:
        core.stopped.wait()
        quit_app()

    threading.Thread(target=quit_when_stopped, daemon=True).start()
    webview.start(gui=gui)
    if tray is not None:
        tray.stop()
    core.stop()
    return None
