"""Checking signatures for an edge: PDF reports in ETSI terms, XML signatures, and a raw
signature over a digest. Nothing here touches a token. A PDF is read and judged in a document
worker (``documents``), under the document budget.

What a PDF's verification may fetch is the URL policy made here from the configuration
(``fetch_policy``): the configured CAs' hosts, the TSA, the rewrite targets and
``[revocation] fetch_hosts``, under the ``verify_fetch_*`` limits and, for each signature,
``[revocation] fetch_budget_s``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography import x509 as crypto_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ..certificates import Trust
from ..errors import Code, SignerError
from ..lazy import lazy_import
from .documents.pool import DocumentPool

if TYPE_CHECKING:
    from policies.limits import Limits

    from ..config import Settings
    from ..engine import xml
    from ..validation import fetch_policy as url_policy
    from ..validation import report
else:  # the document stacks are imported with the first document to verify
    xml = lazy_import("signer.engine.xml")
    report = lazy_import("signer.validation.report")
    url_policy = lazy_import("signer.validation.fetch_policy")

DIGESTS = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


async def verify_pdf(data: bytes, trust: Trust, documents: DocumentPool | None, *, caller: str = "",
                     online: bool = True, timeout_s: float = 20.0, policy: url_policy.FetchPolicy | None = None
                     ) -> list[report.SignatureReport]:
    """A report per signature of the document, made in a worker of ``documents`` for ``caller``
    (its name; no pool: in this process, for a command reading the official's own file); the
    authorities are asked under ``policy`` only."""
    options: dict[str, Any] = {"online": online, "timeout_s": timeout_s, "policy": policy}
    if documents is None:
        return await report.averify_pdf(data, trust.anchors, trust.intermediates, **options)
    return await documents.verify(caller, data, trust, **options)


def fetch_policy(settings: Settings, trust: Trust, limits: Limits) -> url_policy.FetchPolicy:
    """What verification may fetch under this configuration."""
    revocation = settings.revocation.policy
    return url_policy.build_policy(
        [*trust.anchors, *trust.intermediates],
        urls=[*([settings.timestamp.url] if settings.timestamp.url else []), *(r.target for r in revocation.rewrites)],
        hosts=revocation.fetch_hosts, max_bytes=limits.verify_fetch_max_bytes,
        max_requests=limits.verify_fetch_requests, total_s=limits.verify_fetch_total_s,
        signature_s=revocation.fetch_budget_s)


async def verify_xml(data: bytes, trust: Trust) -> list[xml.XmlSignatureReport]:
    """A report per ds:Signature of the document."""
    return await xml.verify_xml(data, list(trust.anchors), list(trust.intermediates))


def verify_digest_signature(certificate_der: bytes, algorithm: str, digest: bytes, signature: bytes
                            ) -> tuple[bool, str]:
    """Whether ``signature`` over ``digest`` checks out against the certificate's key, and the
    certificate's subject."""
    try:
        certificate = crypto_x509.load_der_x509_certificate(certificate_der)
    except ValueError:
        raise SignerError(Code.BAD_REQUEST, "CertBase64 is not a certificate",
                          vi="CertBase64 không phải là chứng thư số") from None
    chosen = DIGESTS.get(algorithm)
    if chosen is None:
        raise SignerError(Code.BAD_REQUEST, f"unsupported HashAlg {algorithm}", vi=f"không hỗ trợ HashAlg {algorithm}")
    public_key = certificate.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, digest, padding.PKCS1v15(), Prehashed(chosen))
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, digest, ec.ECDSA(Prehashed(chosen)))
        else:
            raise SignerError(Code.NOT_SUPPORTED, "key type", vi="loại khóa")
        valid = True
    except (InvalidSignature, ValueError):
        valid = False
    return valid, certificate.subject.rfc4514_string()

