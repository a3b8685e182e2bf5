"""``signer serve``: the localhost signing daemon."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings
    from ..daemon import Daemon


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("serve", parents=[common], help="run the signing daemon / chạy dịch vụ ký số")
    parser.add_argument("--port", type=int, help="http port of the native API (default 8986)")
    parser.add_argument("--tls-port", type=int, help="https port (default 8987)")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="URL",
                        help="allow a web origin (repeatable), e.g. https://qlvb.example.gov.vn")
    parser.add_argument("--interactive", action="store_true",
                        help="ask consent and PIN on this terminal when no desktop companion is connected "
                             "/ hỏi đồng ý và PIN trên cửa sổ lệnh này khi không có ứng dụng khay")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from ..companion.terminal import TerminalAsker
    from ..daemon import Daemon
    from ..tls import ensure_local_tls, server_ssl_context

    daemon = Daemon(settings, allow_origins=args.allow_origin,
                    terminal=TerminalAsker() if args.interactive else None)
    try:
        files = ensure_local_tls(settings.server.tls_dir)
        asyncio.run(_serve(daemon, args, settings, server_ssl_context(files)))
    finally:
        daemon.close()
    return 0


async def _serve(daemon: Daemon, args: argparse.Namespace, settings: Settings, ssl_context) -> None:
    import asyncio
    import signal

    from ..logs import get_logger
    from ..server import Listening, run_daemon

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def ready(listening: Listening) -> None:
        origins = ", ".join(daemon.allowlist.listed()) or "-"
        print(f"Đang phục vụ / Listening: http://127.0.0.1:{listening.http_port} "
              f"https://127.0.0.1:{listening.https_port} (origins: {origins})", flush=True)
        get_logger(__name__).info("listening", http=listening.http_port, https=listening.https_port)

    await run_daemon(
        daemon,
        port=args.port if args.port is not None else settings.server.port,
        tls_port=args.tls_port if args.tls_port is not None else settings.server.tls_port,
        ssl_context=ssl_context,
        stop=stop,
        on_ready=ready,
    )
    print("Đã dừng / Stopped.", flush=True)
