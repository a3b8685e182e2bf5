"""The check before every signature: a bad certificate signs nothing.

Validity period and key usage are read from the certificate; the chain must reach
one of the configured trust anchors (the OS store is never trusted implicitly), and
no certificate on it may be revoked (``revocation``: OCSP, then CRL, under the
deployment's policy). The revocation answers are returned for long-term signatures.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import x509
from cryptography import x509 as crypto_x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
)

from ..config import RevocationSettings, Settings
from ..errors import Code, SignerError
from .revocation import Evidence, check_revocation
from .store import RevocationStore

SIGNING_USAGES = {"digital_signature", "non_repudiation"}
VERDICTS = {Code.CERT_REVOKED: "revoked", Code.CERT_EXPIRED: "expired"}  # any other refusal: "unknown"
SETUP_SCRIPT = Path(__file__).resolve().parents[2] / "softhsm-setup.sh"  # in a source checkout


def responders_command(settings: Settings) -> str | None:
    """How a development configuration (softhsm-setup.sh writes one per folder) starts its test
    CA's responders; None for any other configuration."""
    if not settings.development or settings.path is None:
        return None
    script = shlex.quote(str(SETUP_SCRIPT)) if SETUP_SCRIPT.is_file() else "./softhsm-setup.sh"
    return f"{script} {shlex.quote(str(settings.path.resolve().parent))}"


async def check_signing_certificate(
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    revocation: RevocationSettings | None = None,
    moment: datetime | None = None,
    responders: str | None = None,
) -> Evidence:
    """Raise CERT_EXPIRED, CERT_NOT_YET_VALID, CERT_KEY_USAGE, CERT_UNTRUSTED, CERT_REVOKED
    or REVOCATION_UNKNOWN; return the revocation answers when the certificate may sign.

    The certificate's own fields are read first; the path and the revocation answers are
    awaited on the caller's loop (the responders are asked over the network). ``responders``
    (``responders_command``) is how to start a development configuration's responders: an
    unanswered check says so."""
    moment = moment or datetime.now(UTC)
    revocation = revocation or RevocationSettings()
    name = certificate.subject.native.get("common_name") or certificate.subject.human_friendly
    if moment < certificate.not_valid_before:
        raise SignerError(Code.CERT_NOT_YET_VALID, f"{name}: valid from {certificate.not_valid_before:%Y-%m-%d}",
                          vi=f"{name}: có hiệu lực từ ngày {certificate.not_valid_before:%d/%m/%Y}")
    if moment > certificate.not_valid_after:
        raise SignerError(Code.CERT_EXPIRED, f"{name}: expired on {certificate.not_valid_after:%Y-%m-%d}",
                          vi=f"{name}: hết hạn ngày {certificate.not_valid_after:%d/%m/%Y}")
    usage = set(certificate.key_usage_value.native) if certificate.key_usage_value else set()
    if usage and not usage & SIGNING_USAGES:
        raise SignerError(Code.CERT_KEY_USAGE, f"{name}: key usage {', '.join(sorted(usage))}",
                          vi=f"{name}: mục đích sử dụng khóa {', '.join(sorted(usage))}")
    if not anchors:
        raise SignerError(Code.CERT_UNTRUSTED, "no trust anchors are configured ([trust] anchors)",
                          vi="chưa cấu hình chứng thư số gốc tin cậy nào ([trust] anchors)")
    # The path to an anchor (pyhanko-certvalidator); revocation is left to ``check_revocation``.
    context = ValidationContext(trust_roots=list(anchors), other_certs=list(chain), allow_fetching=False,
                                revocation_mode="soft-fail", moment=moment)
    try:
        path = await CertificateValidator(certificate, validation_context=context).async_validate_usage(set())
    except ExpiredError:
        raise SignerError(Code.CERT_EXPIRED, name, vi=name) from None
    except NotYetValidError:
        raise SignerError(Code.CERT_NOT_YET_VALID, name, vi=name) from None
    except (PathBuildingError, PathValidationError, InvalidCertificateError) as exc:
        raise SignerError(Code.CERT_UNTRUSTED, f"{name}: {str(exc)[:160]}",
                          vi=f"{name}: lỗi khi kiểm tra chuỗi chứng thư số ({str(exc)[:160]})") from None
    leaf_first = [crypto_x509.load_der_x509_certificate(c.dump()) for c in reversed(list(path))]
    try:
        return await check_revocation(leaf_first, revocation.policy, RevocationStore(revocation.cache_dir), moment)
    except SignerError as error:
        if error.code is Code.REVOCATION_UNKNOWN and responders:
            raise SignerError(Code.REVOCATION_UNKNOWN, error.detail, vi=error.vi, responders=responders) from None
        raise


@dataclass(frozen=True)
class Verdict:
    """What the check before a signature says of a certificate now: ``valid``, ``revoked``,
    ``expired`` or ``unknown``, with the refusal that says why."""

    status: str
    refusal: SignerError | None = None

    def to_json(self) -> dict[str, str | None]:
        refusal = self.refusal
        return {"status": self.status, "code": refusal.code if refusal else None,
                "reason": refusal.message_en if refusal else None,
                "reason_vi": refusal.message_vi if refusal else None}


async def verdict(certificate: x509.Certificate, chain: Sequence[x509.Certificate],
                  anchors: Sequence[x509.Certificate], *, revocation: RevocationSettings | None = None,
                  responders: str | None = None) -> Verdict:
    """``check_signing_certificate`` now, as a status instead of a refusal (listings, diagnosis).
    Under soft-fail a certificate nobody answered for may sign, but it is not known to be valid."""
    try:
        evidence = await check_signing_certificate(certificate, chain, anchors, revocation=revocation,
                                                   responders=responders)
    except SignerError as refusal:
        return Verdict(VERDICTS.get(refusal.code, "unknown"), refusal)
    if not evidence.complete:
        name = certificate.subject.native.get("common_name") or certificate.subject.human_friendly
        return Verdict("unknown", SignerError(Code.REVOCATION_UNKNOWN, f"{name}: no OCSP or CRL answer (soft-fail)",
                                              vi=f"{name}: không nhận được trả lời OCSP hoặc CRL (soft-fail)",
                                              responders=responders))
    return Verdict("valid")
