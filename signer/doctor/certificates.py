"""The certificates the configuration signs with, checked as a signature checks them (validity,
key usage, the chain to the configured anchors, revocation now), and expiry within 30 days.

Revocation is asked afresh, within a few seconds, with answers kept in a temporary folder that
is removed after: the user's revocation cache is not written. A responder that does not answer
is a warning here; the ``revocation`` line is the one that fails for it."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..config import RevocationSettings
from ..errors import Code, SignerError
from ..keys import TokenKey
from ..validation.presign import check_signing_certificate
from .machine import Machine
from .result import CheckResult, Finding, Fix, combine, skipped

NAME = "certificates"
SOON = timedelta(days=30)
BUDGET_S = 6.0  # all the revocation requests of one certificate

RENEW = Fix("xin CA gia hạn hoặc cấp chứng thư mới rồi nạp vào token (signer enroll import)",
            "ask the CA to renew or issue a new certificate, then load it onto the token (signer enroll import)")
FIXES: dict[Code, Fix] = {
    Code.CERT_EXPIRED: RENEW,
    Code.CERT_NOT_YET_VALID: Fix("kiểm tra đồng hồ máy tính (xem dòng clock)", "check the computer's clock "
                                 "(see the clock line)"),
    Code.CERT_REVOKED: Fix("chứng thư đã bị thu hồi: xin CA cấp chứng thư mới", "the certificate is revoked: ask the "
                           "CA for a new one"),
    Code.CERT_KEY_USAGE: Fix("chọn chứng thư dùng để ký số trong [tokens] default_certificate",
                             "choose a signing certificate in [tokens] default_certificate"),
    Code.CERT_UNTRUSTED: Fix("thêm chứng thư gốc và trung gian của CA vào [trust] trong tệp cấu hình",
                             "add the CA's root and intermediate certificates to [trust] in the configuration"),
}
NOT_THERE = Fix("cắm token chứa chứng thư, hoặc sửa [tokens] default_certificate / [vgca] certificates theo "
                "nhãn có trên token (signer certs)",
                "plug in the token that holds it, or set [tokens] default_certificate / [vgca] certificates to a "
                "label on the token (signer certs)")
UNKNOWN = Fix("xem dòng revocation", "see the revocation line")


async def check_certificates(machine: Machine) -> CheckResult:
    keys = machine.signing_keys()
    if not keys:
        return skipped(NAME, "no token or certificate to read")
    if all(isinstance(k, SignerError) and k.code is Code.TOKEN_NOT_PRESENT for k in keys.values()):
        return skipped(NAME, "no token plugged in")
    anchors = machine.trust().anchors
    if not anchors:
        return skipped(NAME, "no trust anchor to check them against")
    with tempfile.TemporaryDirectory(prefix="signer-doctor-") as cache:
        revocation = _asking_now(machine.settings.revocation, Path(cache))
        found = await asyncio.gather(*(_finding(selector, key, anchors, revocation) for selector, key in keys.items()))
    return combine(NAME, list(found), none=Finding("pass", "no certificate configured"))


def _asking_now(settings: RevocationSettings, cache: Path) -> RevocationSettings:
    """Revocation as a signature asks it, but refusing when nothing answers and within a few seconds."""
    policy = settings.policy
    return RevocationSettings(policy=replace(policy, mode="hard-fail", timeout_s=min(policy.timeout_s, BUDGET_S),
                                             retries=0, fetch_budget_s=BUDGET_S), cache_dir=cache)


async def _finding(selector: str, key: TokenKey | SignerError, anchors: tuple, revocation: RevocationSettings
                   ) -> Finding:
    if isinstance(key, SignerError):
        return Finding("fail", f"{selector}: {key.detail or key.message_en}", NOT_THERE)
    name = key.label or selector
    certificate = key.certificate
    try:
        await check_signing_certificate(certificate, key.chain, anchors, revocation=revocation)
    except SignerError as error:
        if error.code is Code.REVOCATION_UNKNOWN:
            return Finding("warn", f"{name}: revocation could not be checked now ({error.detail})", UNKNOWN)
        return Finding("fail", f"{name}: {error.code}: {error.detail}", FIXES.get(error.code, RENEW))
    until = certificate.not_valid_after
    if until - datetime.now(UTC) < SOON:
        return Finding("warn", f"{name}: expires on {until:%Y-%m-%d}", RENEW)
    return Finding("pass", f"{name}: valid until {until:%Y-%m-%d}, trusted, not revoked")
