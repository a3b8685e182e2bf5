"""Checking the signatures of a PDF: integrity, coverage, signer and chain to our anchors.

Revocation and long-term validation arrive with the validation work; here the
report says what pyHanko establishes offline.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from asn1crypto import x509
from pyhanko.pdf_utils import misc
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from ..errors import SignerError
from ..keys import holder_name


@dataclass(frozen=True)
class SignatureReport:
    field: str
    signer: str
    signer_subject: str
    signing_time: str | None
    intact: bool  # the signed bytes are unchanged
    valid: bool  # the cryptographic signature checks out
    trusted: bool  # the signer's chain reaches a configured trust anchor
    coverage: str  # ENTIRE_FILE, ENTIRE_REVISION or CONTIGUOUS_BLOCK_FROM_START
    modification_level: str | None

    @property
    def passed(self) -> bool:
        return self.intact and self.valid and self.trusted


def verify_pdf(
    data: bytes, anchors: list[x509.Certificate], intermediates: list[x509.Certificate]
) -> list[SignatureReport]:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except (misc.PdfError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise SignerError("DOCUMENT_INVALID", str(exc).splitlines()[0][:200] if str(exc) else "unreadable") from None
    if reader.encrypted:
        raise SignerError("DOCUMENT_ENCRYPTED")
    reports = []
    for sig in signatures:
        context = ValidationContext(
            trust_roots=anchors, other_certs=intermediates, allow_fetching=False, revocation_mode="soft-fail"
        )
        try:
            status = validate_pdf_signature(sig, context)
        except Exception:  # a broken signature is a failed report, not a failed request
            reports.append(_broken(sig))
            continue
        cert = status.signing_cert
        reports.append(
            SignatureReport(
                field=sig.field_name,
                signer=holder_name(cert),
                signer_subject=cert.subject.human_friendly,
                signing_time=status.signer_reported_dt.isoformat() if status.signer_reported_dt else None,
                intact=status.intact,
                valid=status.valid,
                trusted=status.trusted,
                coverage=status.coverage.name if status.coverage else "UNKNOWN",
                modification_level=status.modification_level.name if status.modification_level else None,
            )
        )
    return reports


def _broken(sig) -> SignatureReport:
    try:
        cert = sig.signer_cert
        signer, subject = holder_name(cert), cert.subject.human_friendly
    except Exception:  # the CMS itself is unreadable
        signer, subject = "", ""
    return SignatureReport(
        field=sig.field_name, signer=signer, signer_subject=subject, signing_time=None,
        intact=False, valid=False, trusted=False, coverage="UNKNOWN", modification_level=None,
    )
