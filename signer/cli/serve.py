"""``signer serve``: the localhost signing daemon."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

    from ..config import Settings
    from ..daemon import Daemon
    from ..listeners import Bound


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("serve", parents=[common], help="run the signing daemon / chạy dịch vụ ký số")
    parser.add_argument("--port", type=int,
                        help="http port of the native API (default 8986) / cổng http của API /v1 (mặc định 8986)")
    parser.add_argument("--tls-port", type=int, help="https port (default 8987) / cổng https (mặc định 8987)")
    parser.add_argument("--no-tls", action="store_true",
                        help="no https listener: the native API on the http port only, e.g. beside the official "
                             "VGCA service that holds 8987 / không mở cổng https: chỉ phục vụ API /v1 qua http")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="URL",
                        help="allow a web origin (repeatable), e.g. https://qlvb.example.gov.vn / cho phép một "
                             "trang web (dùng được nhiều lần)")
    parser.add_argument("--interactive", action="store_true",
                        help="ask consent and PIN on this terminal when no desktop companion is connected "
                             "/ hỏi đồng ý và PIN trên cửa sổ lệnh này khi không có ứng dụng khay")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from ..companion.terminal import TerminalAsker
    from ..daemon import Daemon
    from ..instance import sole_daemon
    from ..listeners import bind_ports
    from ..tls import ensure_local_tls, server_ssl_context

    # the ports first, then the state folder: a start that cannot listen, or a second daemon on
    # the same folder, stops before anything is written (the running one's companion channel stays)
    tls_port = args.tls_port if args.tls_port is not None else settings.server.tls_port
    bound = bind_ports(args.port if args.port is not None else settings.server.port,
                       None if args.no_tls else tls_port)
    try:
        with sole_daemon(settings.server.state_dir):
            daemon = Daemon(settings, allow_origins=args.allow_origin,
                            terminal=TerminalAsker() if args.interactive else None)
            try:
                ssl_context = None if args.no_tls else server_ssl_context(ensure_local_tls(settings.server.tls_dir))
                asyncio.run(_serve(daemon, bound, ssl_context))
            finally:
                daemon.close()
    finally:
        bound.close()
    return 0


async def _serve(daemon: Daemon, bound: Bound, ssl_context: ssl.SSLContext | None) -> None:
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
        https = f" https://127.0.0.1:{listening.https_port}" if listening.https_port else " (no https / không https)"
        print(f"Đang phục vụ / Listening: http://127.0.0.1:{listening.http_port}{https} (origins: {origins})",
              flush=True)
        get_logger(__name__).info("listening", http=listening.http_port, https=listening.https_port)

    await run_daemon(daemon, bound=bound, ssl_context=ssl_context, stop=stop, on_ready=ready)
    print("Đã dừng / Stopped.", flush=True)
