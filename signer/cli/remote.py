"""``signer remote``: the remote signing services (``[[remote]]``) and this user's sign-in to
them: ``login NAME`` (in the system browser for ``authorization_code``, else with the client's
own secret), ``logout NAME`` (forgets the tokens kept here), ``list`` (services, how each signs
in, whether signed in, until when)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import Code, SignerError
from .output import print_json, printable

if TYPE_CHECKING:
    from ..config import RemoteSettings, Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("remote", parents=[common],
                            help="remote signing services and signing in to them / dịch vụ ký số từ xa và đăng nhập")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    login = actions.add_parser("login", parents=[common],
                               help="sign in to a service (in the browser for OAuth 2.0 authorization code) / "
                                    "đăng nhập dịch vụ (trong trình duyệt với OAuth 2.0 authorization code)")
    login.add_argument("name", help="the service's [[remote]] name / tên dịch vụ trong [[remote]]")
    logout = actions.add_parser("logout", parents=[common],
                                help="forget the sign-in kept on this computer / quên phiên đăng nhập lưu trên máy")
    logout.add_argument("name", help="the service's [[remote]] name / tên dịch vụ trong [[remote]]")
    listing = actions.add_parser("list", parents=[common],
                                 help="services and whether signed in / các dịch vụ và trạng thái đăng nhập")
    listing.add_argument("--json", action="store_true", help="machine-readable output / kết quả dạng JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..keys.remote_login import sign_in_state, sign_out

    if args.action == "list":
        return _list(settings, json_output=args.json)
    service = _service(settings, args.name)
    if args.action == "logout":
        forgotten = sign_out(service)
        print(f"Đã đăng xuất / Signed out: {service.name}" if forgotten
              else f"Chưa đăng nhập / Not signed in: {service.name}")
        return 0
    if service.auth == "none":
        print(f"{service.name}: không cần đăng nhập / asks no sign-in")
        return 0
    _sign_in(service)
    state = sign_in_state(service)
    until = _time(state.tokens.expires_at) if state.tokens else "-"
    print(f"Đã đăng nhập / Signed in: {service.name} (đến / until {until})")
    return 0


def _sign_in(service: RemoteSettings) -> None:
    import asyncio
    import sys
    import webbrowser

    from ..keys.remote_login import sign_in

    def open_url(url: str) -> None:
        print("Đăng nhập trong trình duyệt; nếu trình duyệt không mở, hãy mở địa chỉ này / "
              f"Sign in in the browser; if it does not open, visit:\n{url}", file=sys.stderr, flush=True)
        webbrowser.open(url)

    asyncio.run(sign_in(service, open_url))


def _list(settings: Settings, *, json_output: bool) -> int:
    from ..keys.remote_login import sign_in_state

    states = [sign_in_state(service) for service in settings.remote]
    if json_output:
        print_json([{"name": s.service.name, "url": s.service.url, "api_version": s.service.api_version,
                     "auth": s.service.auth, "signed_in": s.tokens is not None or s.service.auth == "none",
                     "expires_at": _time(s.tokens.expires_at) if s.tokens else None} for s in states])
        return 0
    if not states:
        print("Chưa cấu hình dịch vụ ký số từ xa nào ([[remote]]). / No remote signing service configured.")
    for s in states:
        if s.service.auth == "none":
            signed = "không cần đăng nhập / no sign-in"
        elif s.tokens is None:
            signed = "chưa đăng nhập / not signed in"
        else:
            signed = f"đã đăng nhập đến / signed in until {_time(s.tokens.expires_at)}"
        print(f"{printable(s.service.name)}  {printable(s.service.url)}  API {s.service.api_version}  "
              f"auth {s.service.auth}: {signed}")
    return 0


def _service(settings: Settings, name: str) -> RemoteSettings:
    for service in settings.remote:
        if service.name == name:
            return service
    raise SignerError(Code.NOT_FOUND, f"no [[remote]] named {name!r}", vi=f"không có [[remote]] nào tên {name!r}")


def _time(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
