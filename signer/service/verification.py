"""Checking signatures for an edge: PDF reports in ETSI terms, XML signatures, and a raw
signature over a digest. Nothing here touches a token. A PDF is read and judged in a document
worker (``documents``), under the document budget."""

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
    from ..engine import xml
    from ..validation import report
else:  # the document stacks are imported with the first document to verify
    xml = lazy_import("signer.engine.xml")
    report = lazy_import("signer.validation.report")

DIGESTS = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


async def verify_pdf(data: bytes, trust: Trust, documents: DocumentPool | None, *, online: bool = True,
                     timeout_s: float = 20.0) -> list[report.SignatureReport]:
    """A report per signature of the document, made in a worker of ``documents`` (None: in this
    process, for a command reading the official's own file)."""
    options: dict[str, Any] = {"online": online, "timeout_s": timeout_s}
    if documents is None:
        return await report.averify_pdf(data, trust.anchors, trust.intermediates, **options)
    return await documents.verify(data, trust, **options)


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
        raise SignerError(Code.BAD_REQUEST, "CertBase64 is not a certificate") from None
    chosen = DIGESTS.get(algorithm)
    if chosen is None:
        raise SignerError(Code.BAD_REQUEST, f"unsupported HashAlg {algorithm}")
    public_key = certificate.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, digest, padding.PKCS1v15(), Prehashed(chosen))
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, digest, ec.ECDSA(Prehashed(chosen)))
        else:
            raise SignerError(Code.NOT_SUPPORTED, "key type")
        valid = True
    except (InvalidSignature, ValueError):
        valid = False
    return valid, certificate.subject.rfc4514_string()

