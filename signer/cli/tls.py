"""``signer tls``: the per-machine certificate of the https listener (init, status), and its CA's
trust by the current user's browsers (trust, untrust)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .output import print_json

if TYPE_CHECKING:
    from ..config import Settings
    from ..tls import TlsStatus


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("tls", help="local HTTPS certificate / chứng thư TLS cục bộ")
    # The common options sit on the actions, so that `signer tls init --config PATH` works.
    actions = parser.add_subparsers(dest="tls_command", required=True, metavar="ACTION")
    init = actions.add_parser("init", parents=[common],
                              help="create the local CA and certificate / tạo CA và chứng thư cục bộ")
    init.add_argument("--force", action="store_true",
                      help="replace a still-valid certificate / thay cả chứng thư còn hạn")
    status = actions.add_parser("status", parents=[common],
                                help="show the certificate's state / xem tình trạng chứng thư")
    status.add_argument("--json", action="store_true", help="machine-readable output / kết quả dạng JSON")
    actions.add_parser("trust", parents=[common],
                       help="trust the local CA in this user's browsers / tin cậy CA cục bộ trong trình duyệt")
    actions.add_parser("untrust", parents=[common],
                       help="remove the local CA from this user's browsers / gỡ CA cục bộ khỏi trình duyệt")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..tls import (  # cryptography comes with the command, not with the parser
        TlsFiles,
        tls_status,
    )

    directory = settings.server.tls_dir
    if args.tls_command == "init":
        return _init(directory, force=args.force)
    if args.tls_command in ("trust", "untrust"):
        from . import trust  # certutil's callers come with these two actions only

        return trust.trust(directory) if args.tls_command == "trust" else trust.untrust()
    state = tls_status(directory)
    if args.json:
        print_json(_describe(directory, state))
        return 0
    if not state.present:
        print(f"Chưa có chứng thư TLS cục bộ / No local TLS certificate in {directory}: signer tls init")
        return 0
    print(f"Chứng thư TLS cục bộ / Local TLS certificate: {TlsFiles.in_dir(directory).server_cert}")
    print(f"    hết hạn / expires {state.not_after:%Y-%m-%d}, còn / left {state.days_left} ngày / days")
    print(f"    CA SHA-256 {state.ca_fingerprint_sha256}")
    if state.needs_renewal:
        print("    cần làm mới / needs renewal: signer tls init")
    return 0


def _init(directory: Path, *, force: bool) -> int:
    from ..tls import TlsFiles, init_local_tls, tls_status

    # With --force the old files are not even read: that is the way out of broken ones.
    state = None if force else tls_status(directory)
    if state is not None and not state.needs_renewal:
        files = TlsFiles.in_dir(directory)
        print(f"Chứng thư TLS cục bộ còn hạn, giữ nguyên / Local TLS certificate still valid, kept: "
              f"{files.server_cert} (đến / until {state.not_after:%Y-%m-%d}; --force để thay / to replace)")
    else:
        files = init_local_tls(directory)
        print(f"Đã tạo chứng thư TLS cục bộ / Local TLS certificate created: {files.server_cert}")
    print(f"Chứng thư CA / CA certificate: {files.ca_cert}")
    print("    thêm CA này vào kho tin cậy của trình duyệt: signer tls trust / "
          "add it to the browsers' trust store: signer tls trust")
    return 0


def _describe(directory: Path, state: TlsStatus) -> dict[str, object]:
    from ..tls import TlsFiles

    files = TlsFiles.in_dir(directory)
    return {
        "directory": str(directory),
        "ca_cert": str(files.ca_cert),
        "server_cert": str(files.server_cert),
        "present": state.present,
        "not_after": state.not_after.isoformat() if state.not_after else None,
        "days_left": state.days_left,
        "ca_fingerprint_sha256": state.ca_fingerprint_sha256,
        "needs_renewal": state.needs_renewal,
    }
