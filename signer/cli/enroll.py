"""``signer enroll``: a key pair generated on the token and a PKCS#10 request for the CA
(``request``), then the issued certificate and its chain loaded next to the key (``import``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .output import print_json

if TYPE_CHECKING:
    from ..config import Settings
    from ..keys import KeyStore

_TOKEN_HELP = ("token (số sê-ri hoặc nhãn; mặc định: token duy nhất đang cắm) / "
               "token serial or label (default: the only one connected)")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "enroll", parents=[common],
        help="đăng ký chứng thư số lên token / enrol a certificate on a token",
        description="Tạo cặp khóa trên token và yêu cầu cấp chứng thư số (request), rồi nạp chứng thư số "
                    "đã được cấp (import). / Generate a key pair on the token and a certificate request "
                    "(request), then load the issued certificate (import).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    about = "tạo cặp khóa trên token và yêu cầu PKCS#10 / generate a key pair on the token and a PKCS#10 request"
    request = actions.add_parser("request", parents=[common], help=about, description=about)
    request.add_argument("--token", metavar="SERIAL|LABEL", help=_TOKEN_HELP)
    request.add_argument("--label", required=True, help="nhãn của khóa / the key's label (CKA_LABEL)")
    request.add_argument("--key", choices=("rsa2048", "rsa3072", "p256"), default="rsa2048",
                         help="loại khóa (mặc định rsa2048) / key type (default: rsa2048)")
    request.add_argument("--id", metavar="HEX", type=_hex,
                         help="mã định danh khóa CKA_ID dạng hex (mặc định: 20 byte ngẫu nhiên) / "
                              "the key's CKA_ID in hex (default: 20 random bytes)")
    request.add_argument("--cn", required=True, help="họ tên hoặc tên cơ quan (CN) / common name")
    request.add_argument("--title", help="chức vụ (T) / title")
    request.add_argument("--o", help="cơ quan, tổ chức (O) / organisation")
    request.add_argument("--ou", help="đơn vị (OU) / organisational unit")
    request.add_argument("--l", help="quận, huyện, xã (L) / locality")
    request.add_argument("--st", help="tỉnh, thành phố (ST) / province or city")
    request.add_argument("--email", help="thư điện tử (E) / e-mail address")
    request.add_argument("--uid", metavar="CMND:…|CCCD:…|MST:…",
                         help="số định danh (UID): CMND:, CCCD: hoặc MST: / identity number: CMND:, CCCD: or MST:")
    request.add_argument("-o", "--output", type=Path, required=True, metavar="REQ.pem",
                         help="tệp yêu cầu / the request file")
    request.add_argument("--der", action="store_true", help="ghi dạng DER / write DER instead of PEM")
    request.add_argument("--json", action="store_true", help="kết quả dạng JSON / print the result as JSON")

    about = "nạp chứng thư số đã cấp lên token / load the issued certificate onto the token"
    load = actions.add_parser("import", parents=[common], help=about, description=about)
    load.add_argument("certificate", type=Path, metavar="CERT",
                      help="chứng thư số (PEM hoặc DER) / the certificate (PEM or DER)")
    load.add_argument("--chain", type=Path, nargs="+", default=[], metavar="FILE",
                      help="chứng thư số của các CA cấp trên / the CA certificates of its chain")
    load.add_argument("--token", metavar="SERIAL|LABEL", help=_TOKEN_HELP)
    load.add_argument("--label", help="nhãn của chứng thư số (mặc định: nhãn của khóa) / "
                                      "the certificate's label (default: the key's)")
    load.add_argument("--json", action="store_true", help="kết quả dạng JSON / print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..keys import KeyStore

    with KeyStore(settings) as store:
        return _request(args, store) if args.action == "request" else _import(args, store)


def _request(args: argparse.Namespace, store: KeyStore) -> int:
    from ..files import write_atomically
    from ..keys.csr import Subject, encode_request
    from ..keys.enrolment import request_certificate

    subject = Subject(common_name=args.cn, title=args.title, organization=args.o, organizational_unit=args.ou,
                      locality=args.l, state=args.st, email=args.email, uid=args.uid)
    made = request_certificate(store, args.token, key=args.key, label=args.label, subject=subject,
                               key_id=args.id)
    write_atomically(args.output, encode_request(made.request, der=args.der))
    result = {"output": str(args.output), "token": made.token.label, "serial": made.token.serial,
              "label": made.label, "key_id": made.key_id.hex(),
              "subject": made.request["certification_request_info"]["subject"].human_friendly}
    if args.json:
        print_json(result)
    else:
        print(f"Đã tạo yêu cầu / Request written: {args.output}")
        print(f"    khóa / key {made.label} (id {made.key_id.hex()}) trên token / on token {made.token.label}")
        print(f"    {result['subject']}")
    return 0


def _import(args: argparse.Namespace, store: KeyStore) -> int:
    from ..keys.enrolment import import_certificate, read_certificates

    certificates = [c for path in (args.certificate, *args.chain) for c in read_certificates(path)]
    done = import_certificate(store, args.token, certificates, label=args.label)
    result = {"token": done.token.label, "serial": done.token.serial, "label": done.label,
              "key_id": done.key_id.hex(), "added": done.added, "chain_added": done.chain_added}
    if args.json:
        print_json(result)
        return 0
    if done.added:
        print(f"Đã nạp chứng thư số / Certificate loaded: {done.label} (id {done.key_id.hex()}) "
              f"trên token / on token {done.token.label}")
    else:
        print(f"Chứng thư số đã có trên token / The certificate is already on the token: {done.label}")
    if done.chain_added:
        print(f"    cùng {done.chain_added} chứng thư số CA / with {done.chain_added} CA certificate(s)")
    return 0


def _hex(text: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hexadecimal: {text}") from None
    if not value:
        raise argparse.ArgumentTypeError("empty id")
    return value
