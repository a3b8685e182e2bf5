"""``signer tray``: the desktop companion (consent, PIN and progress dialogs, tray icon)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import Code, SignerError

if TYPE_CHECKING:
    from ..config import Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("tray", parents=[common], help="the desktop companion / ứng dụng khay hệ thống")
    parser.add_argument("--no-icon", action="store_true",
                        help="dialogs only, no tray icon (a desktop without a system tray) / chỉ hiện hộp thoại, "
                             "không có biểu tượng ở khay hệ thống")
    parser.add_argument("--settings", action="store_true",
                        help="open the settings window at start / mở cửa sổ cài đặt khi khởi động")
    parser.add_argument("--gui", choices=("qt", "gtk", "edgechromium", "cocoa"),
                        help="pywebview's toolkit (default: the platform's own) / bộ giao diện của pywebview "
                             "(mặc định: của hệ điều hành)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from tray.app import run as run_tray
    except ImportError as exc:  # pywebview or pystray missing
        raise SignerError(Code.NOT_SUPPORTED,
                          f"the desktop companion needs pywebview and pystray ({exc.name})",
                          vi=f"ứng dụng khay cần pywebview và pystray ({exc.name})") from None
    unreachable = run_tray(settings.server.state_dir, icon=not args.no_icon, gui=args.gui,
                           open_settings=args.settings)
    if unreachable:
        raise SignerError(Code.DAEMON_UNREACHABLE, f"{unreachable}; start it with `signer serve`",
                          vi=f"hãy khởi động bằng lệnh `signer serve` ({unreachable})")
    return 0
