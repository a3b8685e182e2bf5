"""``signer certs``: signing certificates on the connected tokens.

The listing reads the certificates' own dates only, so it works offline and at once; it
never calls a certificate valid. ``--check`` runs the check made before every signature
(chain to the trust anchors, revocation now over OCSP/CRL), all certificates at once, each
bounded by ``[revocation] fetch_budget_s``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import SignerError
from .output import print_json

if TYPE_CHECKING:
    from ..certificates import Trust
    from ..config import Settings
    from ..keys import Key, KeyStore
    from ..keys.store import CertificateEntry
    from ..validation.presign import Verdict

PERIOD = {  # CertificateEntry.status(): the validity period only
    "valid": "trong thời hạn hiệu lực / in its validity period",
    "expired": "đã hết hạn / expired",
    "not_yet_valid": "chưa đến thời hạn hiệu lực / not valid yet",
}
VERDICT = {
    "valid": "hợp lệ / valid",
    "revoked": "đã bị thu hồi / revoked",
    "expired": "đã hết hạn / expired",
    "unknown": "không xác định / unknown",
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("certs", parents=[common], help="list signing certificates / liệt kê chứng thư số")
    parser.add_argument("--json", action="store_true", help="machine-readable output / kết quả dạng JSON")
    parser.add_argument("--check", action="store_true",
                        help="also check each certificate now: chain and revocation (OCSP/CRL) / "
                             "kiểm tra ngay tình trạng thu hồi của từng chứng thư số")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from ..certificates import Trust
    from ..keys import KeyStore

    trust = Trust.load(settings.trust.anchors, settings.trust.intermediates)
    with KeyStore(settings, trust=trust) as store:
        entries, verdicts = asyncio.run(_listing(store, settings, trust, check=args.check))
    if args.json:
        print_json([e.to_json() | {"check": verdicts[e.id].to_json() if verdicts else None} for e in entries])
        return 0
    if not entries:
        print("Không có chứng thư số nào. / No signing certificate found.")
    for e in entries:
        print(f"{e.label}  [{e.id}]  {e.common_name}  ({PERIOD.get(e.status(), e.status())})")
        print(f"    issuer {e.issuer}")
        print(f"    valid {e.not_before:%Y-%m-%d} .. {e.not_after:%Y-%m-%d}, serial {e.serial}, "
              f"usage {', '.join(e.key_usage) or '-'}")
        print(f"    token {e.token.label} ({e.token.serial})")
        if verdicts:
            print(f"    {_verdict_line(verdicts[e.id])}")
    if entries and verdicts is None:
        print("Chưa kiểm tra tình trạng thu hồi: signer certs --check / "
              "Revocation not checked: signer certs --check")
    return 0


def _verdict_line(verdict: Verdict) -> str:
    line = f"kiểm tra lúc này / checked now: {VERDICT[verdict.status]}"
    if verdict.refusal is not None:
        line += f"\n      {verdict.refusal.message_vi}\n      {verdict.refusal.message_en}"
    return line


async def _listing(store: KeyStore, settings: Settings, trust: Trust, *, check: bool
                   ) -> tuple[list[CertificateEntry], dict[str, Verdict] | None]:
    entries = await store.certificates()
    return entries, await _verdicts(store, entries, settings, trust) if check else None


async def _verdicts(store: KeyStore, entries: list[CertificateEntry], settings: Settings, trust: Trust
                    ) -> dict[str, Verdict]:
    """Each certificate's verdict by id, checked together (the checks wait on the network)."""
    import asyncio

    from ..validation.presign import Verdict, responders_command, verdict

    responders = responders_command(settings)
    found: dict[str, Verdict] = {}
    keys: dict[str, Key] = {}
    for entry in entries:
        try:
            keys[entry.id] = await store.signing_key(entry.id)  # its chain, as a signature would use it
        except SignerError as refusal:
            found[entry.id] = Verdict("unknown", refusal)

    checked = await asyncio.gather(*(
        verdict(key.certificate, key.chain, trust.anchors, revocation=settings.revocation,
                responders=responders) for key in keys.values()))
    return found | dict(zip(keys, checked, strict=True))
