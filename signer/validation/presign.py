"""The check before every signature: a bad certificate signs nothing.

Validity period and key usage are read from the certificate; the chain must reach
one of the configured trust anchors (the OS store is never trusted implicitly), and
no certificate on it may be revoked: OCSP or CRL as the certificates point to, under
the deployment's policy. ``hard-fail`` (the default) refuses when the status cannot
be learnt (REVOCATION_UNKNOWN); ``soft-fail`` signs then, but never over a known
revocation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from asn1crypto import x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)

from ..config import RevocationSettings
from ..errors import SignerError

SIGNING_USAGES = {"digital_signature", "non_repudiation"}


def check_signing_certificate(
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    revocation: RevocationSettings | None = None,
    moment: datetime | None = None,
) -> None:
    """Raise CERT_EXPIRED, CERT_NOT_YET_VALID, CERT_KEY_USAGE, CERT_UNTRUSTED, CERT_REVOKED
    or REVOCATION_UNKNOWN; return quietly when the certificate may sign."""
    moment = moment or datetime.now(timezone.utc)
    revocation = revocation or RevocationSettings()
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
    try:
        _run(_validate(certificate, chain, anchors, revocation, moment))
    except RevokedError:
        raise SignerError("CERT_REVOKED", name) from None
    except ExpiredError:
        raise SignerError("CERT_EXPIRED", name) from None
    except NotYetValidError:
        raise SignerError("CERT_NOT_YET_VALID", name) from None
    except InsufficientRevinfoError:
        raise SignerError("REVOCATION_UNKNOWN", f"{name}: no OCSP or CRL answer") from None
    except (PathBuildingError, PathValidationError, InvalidCertificateError) as exc:
        raise SignerError("CERT_UNTRUSTED", f"{name}: {str(exc)[:160]}") from None


async def _validate(certificate: x509.Certificate, chain: Sequence[x509.Certificate],
                    anchors: Sequence[x509.Certificate], revocation: RevocationSettings, moment: datetime) -> None:
    backend = AIOHttpFetcherBackend(per_request_timeout=revocation.timeout_s)
    try:
        context = ValidationContext(
            trust_roots=list(anchors), other_certs=list(chain), allow_fetching=True, fetcher_backend=backend,
            revocation_mode=revocation.policy, moment=moment)
        await CertificateValidator(certificate, validation_context=context).async_validate_usage(set())
    finally:
        await backend.close()


def _run(coroutine) -> None:
    """Run to the end on this thread, or on a helper thread when this one already has a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with ThreadPoolExecutor(max_workers=1) as helper:
        helper.submit(asyncio.run, coroutine).result()
