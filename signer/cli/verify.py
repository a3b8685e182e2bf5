"""``signer verify FILE.pdf``: a report per signature, in ETSI terms; exit 0 only when all pass."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .output import announce_waits, print_json, printable

if TYPE_CHECKING:
    from ..config import Settings
    from ..validation.report import SignatureReport

NOT_PASSED = 10  # the document was read, but not every signature passed

FETCHING = {"online": "theo chính sách URL / under the URL policy",
            "offline": "không (--offline) / none (--offline)",
            "untrusted-chain": "không: chuỗi chứng thư không dẫn tới CA được cấu hình / "
                               "none: the chain does not lead to a configured trust anchor"}
OUTCOMES = {"fetched": "đã lấy / fetched", "refused": "TỪ CHỐI / REFUSED", "failed": "không được / failed"}
SOURCES = {"online": "câu trả lời trực tuyến mới / fresh answers from the authorities",
           "document": "dữ liệu có trong tệp / the document's own validation data",
           "none": "không có / none"}
REVOCATION = {"good": "chưa bị thu hồi / not revoked", "revoked": "đã bị thu hồi / REVOKED",
              "unknown": "không xác định / unknown"}
MODIFICATIONS = {
    "NONE": "không có / none",
    "LTA_UPDATES": "chỉ dữ liệu kiểm tra dài hạn / validation data only",
    "FORM_FILLING": "chữ ký sau và điền biểu mẫu / later signatures and form filling",
    "ANNOTATIONS": "ghi chú / annotations",
    "OTHER": "THAY ĐỔI NỘI DUNG / CONTENT CHANGED",
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("verify", parents=[common], help="check the signatures of a PDF / kiểm tra chữ ký")
    parser.add_argument("input", type=Path, metavar="FILE.pdf", help="the signed PDF / tệp PDF đã ký")
    parser.add_argument("--json", action="store_true", help="print the result as JSON / in kết quả dạng JSON")
    parser.add_argument("--offline", action="store_true",
                        help="judge by the data in the document only / chỉ dùng dữ liệu có trong tài liệu")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    from dataclasses import asdict

    from policies.limits import load_limits

    from ..certificates import Trust
    from ..errors import Code, SignerError
    from ..files import read_input
    from ..service.verification import fetch_policy, verify_pdf

    trust = Trust.load(settings.trust.anchors, settings.trust.intermediates)
    try:
        limits = load_limits(settings.limits)
    except ValueError as exc:
        from policies.errors import vietnamese

        raise SignerError(Code.CONFIG_INVALID, str(exc),
                          vi=vietnamese(exc, "lỗi trong các giới hạn đã cấu hình")) from None
    with announce_waits():
        reports = asyncio.run(verify_pdf(read_input(args.input), trust, None, online=not args.offline,
                                         timeout_s=settings.revocation.policy.timeout_s,
                                         policy=fetch_policy(settings, trust, limits)))
    passed = bool(reports) and all(r.passed for r in reports)
    if args.json:
        print_json({"signatures": [{**asdict(r), "passed": r.passed} for r in reports], "passed": passed})
    else:
        if not reports:
            print("Không có chữ ký nào. / No signature.")
        for report in reports:
            print(human(report))
    return 0 if passed else NOT_PASSED


def human(r: SignatureReport) -> str:
    from ..validation.report import (  # loaded with the report, not with the command line
        FAILED,
        PASSED,
    )

    verdict = {PASSED: "HỢP LỆ / PASSED", FAILED: "KHÔNG HỢP LỆ / FAILED"}.get(
        r.indication, "CHƯA XÁC ĐỊNH / INDETERMINATE")
    lines = [
        f"{printable(r.field)}: {verdict} ({r.indication}{'/' + r.sub_indication if r.sub_indication else ''})",
        f"  Người ký / Signer: {printable(r.signer)}",
        f"  Chuỗi chứng thư / Chain: {printable(' → '.join(r.chain)) or '-'}",
        f"  Thời gian ký / Signing time: {r.signing_time or '-'}"
        + (f"; dấu thời gian / timestamp: {r.timestamp}" if r.timestamp else ""),
        f"  Toàn vẹn / Integrity: {'đúng / intact' if r.intact and r.valid else 'SAI / BROKEN'}; "
        f"tin cậy / trusted: {'có / yes' if r.trusted else 'không / no'}",
        f"  Thay đổi sau khi ký / Changes after signing: "
        f"{MODIFICATIONS.get(r.modification_level or '', r.modification_level or '-')} ({r.coverage})",
        f"  Thu hồi lúc ký / Revocation at signing time: {REVOCATION[r.revocation]}",
        f"  Mức / Level: PAdES {r.level}",
        f"  Tra cứu trực tuyến / Online look-ups: {FETCHING[r.fetching]}",
    ]
    lines += [f"    {OUTCOMES[f.outcome]}: {printable(f.url)}" + (f" ({printable(f.reason)})" if f.reason else "")
              for f in r.fetches]
    lines.append(f"  Dữ liệu thu hồi đã dùng / Revocation data relied on: {SOURCES[r.revocation_source]}")
    if r.online_failure:
        lines.append("    vì tra cứu trực tuyến không thành công / as the online look-ups failed: "
                     + printable(r.online_failure))
    lines += [f"  ! {printable(detail)}" for detail in r.details]
    return "\n".join(lines)
