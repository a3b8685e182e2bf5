"""The check before every signature: a bad certificate signs nothing.

Validity period and key usage are read from the certificate; the chain must reach
one of the configured trust anchors (the OS store is never trusted implicitly).
Revocation (OCSP, CRL, per-deployment policy) is checked here too once the
deployment's revocation services are configured; until then a revoked status that
is already known (e.g. from a cached CRL) still refuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timezone

from asn1crypto import x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)

from ..errors import SignerError

SIGNING_USAGES = {"digital_signature", "non_repudiation"}


def check_signing_certificate(
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    moment: datetime | None = None,
) -> None:
    """Raise CERT_EXPIRED, CERT_NOT_YET_VALID, CERT_KEY_USAGE, CERT_UNTRUSTED or CERT_REVOKED."""
    moment = moment or datetime.now(timezone.utc)
    name = certificate.subject.native.get("common_name") or certificate.subject.human_friendly
    if moment < certificate.not_valid_before:
        raise SignerError("CERT_NOT_YET_VALID", f"{name}: valid from {certificate.not_valid_before:%Y-%m-%d}")
    if moment > certificate.not_valid_after:
        raise SignerError("CERT_EXPIRED", f"{name}: expired on {certificate.not_valid_after:%Y-%m-%d}")
    usage = set(certificate.key_usage_value.native) if certificate.key_usage_value else set()
    if usage and not usage & SIGNING_USAGES:
        raise SignerError("CERT_KEY_USAGE", f"{name}: key usage {', '.join(sorted(usage))}")
    if not anchors:
        raise SignerError("CERT_UNTRUSTED", "no trust anchors are configured ([trust] anchors)")
    context = ValidationContext(trust_roots=list(anchors), other_certs=list(chain), allow_fetching=False,
                                revocation_mode="soft-fail", moment=moment)
    validator = CertificateValidator(certificate, validation_context=context)
    try:
        asyncio.run(validator.async_validate_usage(set()))
    except RevokedError:
        raise SignerError("CERT_REVOKED", name) from None
    except ExpiredError:
        raise SignerError("CERT_EXPIRED", name) from None
    except NotYetValidError:
        raise SignerError("CERT_NOT_YET_VALID", name) from None
    except (PathBuildingError, PathValidationError, InvalidCertificateError) as exc:
        raise SignerError("CERT_UNTRUSTED", f"{name}: {str(exc)[:160]}") from None
