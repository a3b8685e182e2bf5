"""``signer browsers``: what each installed browser will do for an origin, and the managed browser
policies (``signer browsers policies``) an installer writes from the allowed origins."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from .output import print_json

if TYPE_CHECKING:
    from ..config import Settings

_NAMES = ("chrome", "chromium", "edge", "brave", "firefox")  # signer.browsers.policies.BROWSER_NAMES, unimported


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("browsers", parents=[common],
                            help="browsers' access to the daemon / trình duyệt có gọi được chương trình không")
    parser.add_argument("--origin", action="append", default=[], metavar="URL",
                        help="the page's origin (repeatable; default: every allowed origin) / địa chỉ trang web "
                             "(dùng được nhiều lần; mặc định: mọi trang web được phép)")
    parser.add_argument("--json", action="store_true", help="machine-readable output / kết quả dạng JSON")
    parser.add_argument("--root", type=Path, default=Path("/"),
                        help="read the browsers' policy files under this folder instead of / / đọc tệp chính sách "
                             "của trình duyệt trong thư mục này thay cho /")
    actions = parser.add_subparsers(dest="browsers_command", metavar="ACTION")
    policies = actions.add_parser("policies", parents=[common],
                                  help="write or remove the managed browser policies / chính sách trình duyệt")
    what = policies.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", action="store_true",
                      help="write them for the allowed origins (and --allow-origin) / ghi chính sách cho các "
                           "trang web được phép (và --allow-origin)")
    what.add_argument("--remove", action="store_true", help="remove ours / gỡ các chính sách do chương trình này ghi")
    source = policies.add_mutually_exclusive_group()
    source.add_argument("--allow-origin", action="append", default=[], metavar="URL",
                        help="an origin to list besides the configured ones (repeatable) / thêm một trang web "
                             "ngoài các trang đã cấu hình (dùng được nhiều lần)")
    source.add_argument("--machine-policy", action="store_true",
                        help="list the machine policy's origins and nothing else, whatever this user's "
                             "configuration says (what the package writes) / chỉ ghi các trang web trong chính sách "
                             "của máy, bỏ qua cấu hình của người dùng (như gói cài đặt ghi)")
    policies.add_argument("--browser", action="append", choices=_NAMES, metavar="NAME",
                          help=f"only this browser (repeatable; {', '.join(_NAMES)}; default: all) / chỉ trình "
                               "duyệt này (dùng được nhiều lần; mặc định: tất cả)")
    # SUPPRESS: without it here, `signer browsers --root DIR policies` would fall back to /
    policies.add_argument("--root", type=Path, default=argparse.SUPPRESS,
                          help="write under this folder instead of / (a machine image being prepared) / ghi vào "
                               "thư mục này thay cho / (khi chuẩn bị ảnh đĩa cài máy)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.browsers_command == "policies" and args.remove:
        return _remove(args)
    if args.browsers_command == "policies":
        return _write(args, _machine_origins(settings) if args.machine_policy
                      else _allowed(settings, args.allow_origin))
    return _report(args.origin or _allowed(settings), settings.server.tls_dir, root=args.root, json=args.json)


def _allowed(settings: Settings, extra: list[str] | None = None) -> list[str]:
    """The origins the daemon allows (and ``extra``), capped by the machine policy as the daemon caps them."""
    from policies.origins import load_allowlist

    from ..errors import Code, SignerError

    try:
        return load_allowlist([*settings.server.allowed_origins, *(extra or [])],
                              only=settings.policy.origins if settings.policy else None).listed()
    except ValueError as exc:
        from policies.errors import vietnamese

        raise SignerError(Code.CONFIG_INVALID, str(exc),
                          vi=vietnamese(exc, "lỗi trong danh sách trang web được phép")) from None


def _machine_origins(settings: Settings) -> list[str]:
    """The machine policy's ``[origins] allowed``: none when there is no policy or it leaves origins open."""
    if settings.policy is None or settings.policy.origins is None:
        where = settings.policy.path if settings.policy else "no machine policy"
        print(f"Chính sách máy không liệt kê trang web nào / The machine policy lists no origins ({where})")
        return []
    return list(settings.policy.origins)


def _remove(args: argparse.Namespace) -> int:
    from ..browsers.policies import BROWSER_NAMES, remove_policies

    for path in remove_policies(root=args.root, browsers=args.browser or BROWSER_NAMES):
        # a shared file (Firefox's policies.json) stays, without our entries
        print(f"Đã gỡ phần của chúng tôi / Our entries removed: {path}" if path.exists()
              else f"Đã gỡ / Removed: {path}")
    return 0


def _write(args: argparse.Namespace, origins: list[str]) -> int:
    from ..browsers.policies import BROWSER_NAMES, write_policies

    written = write_policies(origins, root=args.root, browsers=args.browser or BROWSER_NAMES)
    for file in written:
        print(f"Đã ghi / Written: {file.path}")
    if not written:
        print("Không có trang web được phép nào: đã gỡ chính sách / No allowed origin: policies removed")
    return 0


def _report(origins: list[str], tls_dir: Path, *, root: Path, json: bool) -> int:
    from ..browsers.report import browser_verdicts
    from ..errors import Code, SignerError
    from ..tls import TlsFiles

    if not origins:
        raise SignerError(Code.BAD_REQUEST, "no origin: give --origin URL or allow one in the configuration",
                          vi="chưa có trang web nào: hãy dùng --origin URL hoặc cho phép một trang web trong cấu hình")
    ca_pem = TlsFiles.in_dir(tls_dir).ca_cert
    report = {origin: browser_verdicts(origin, home=Path.home(), ca_pem=ca_pem, root=root) for origin in origins}
    if json:
        print_json({origin: [asdict(v) for v in verdicts] for origin, verdicts in report.items()})
        return 0
    for origin, verdicts in report.items():
        print(f"{origin}:")
        if not verdicts:
            print("  không thấy trình duyệt nào / no browser found")
        for verdict in verdicts:
            state = {True: "gọi được / reaches the daemon", False: "bị chặn / blocked",
                     None: "tùy người dùng / up to the user"}[verdict.reaches_daemon]
            print(f"  {verdict.label} ({verdict.executable}): {state}")
            for vi, en in zip(verdict.reasons_vi, verdict.reasons_en, strict=True):
                print(f"    {vi} / {en}")
    return 0
