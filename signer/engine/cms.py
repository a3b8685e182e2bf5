"""CMS building blocks (CAdES-BES): signed attributes, SignedData assembly, detached signing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from asn1crypto import algos, cms, core, x509
from pyhanko.sign.general import as_signing_certificate_v2

from ..keys import SigningKey

DIGEST = "sha256"


@dataclass(frozen=True)
class CmsSignature:
    der: bytes
    signing_time: datetime
    content_sha256: str


def signing_time_now() -> datetime:
    """The current instant in UTC, whole seconds (as encoded in UTCTime)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def signed_attributes(
    content_digest: bytes, certificate: x509.Certificate, signing_time: datetime
) -> cms.CMSAttributes:
    """content-type, message-digest, signing-time (true UTC) and signing-certificate-v2."""
    if signing_time.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")
    utc = signing_time.astimezone(timezone.utc)
    return cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(utc)})]}),
            cms.CMSAttribute({"type": "message_digest", "values": [content_digest]}),
            cms.CMSAttribute.load(_signing_certificate_attribute(certificate.dump())),
        ]
    )


# asn1crypto re-encodes nested structures on every dump; what depends only on the
# certificates is encoded once per key and reused (lazily parsed, dumped verbatim).
@lru_cache(maxsize=64)
def _signing_certificate_attribute(certificate_der: bytes) -> bytes:
    certificate = x509.Certificate.load(certificate_der)
    return cms.CMSAttribute(
        {"type": "signing_certificate_v2", "values": [as_signing_certificate_v2(certificate, DIGEST)]}
    ).dump()


@lru_cache(maxsize=64)
def _certificate_set(certificates_der: tuple[bytes, ...]) -> bytes:
    return cms.CertificateSet([x509.Certificate.load(der) for der in certificates_der]).dump()


def attributes_digest(attributes: cms.CMSAttributes) -> bytes:
    """What the token signs: the digest of the DER-encoded signed attributes."""
    return hashlib.new(DIGEST, attributes.dump()).digest()


def signed_data(
    key: SigningKey, attributes: cms.CMSAttributes, signature: bytes, content: bytes | None = None
) -> cms.ContentInfo:
    """Assemble SignedData: the signer's certificate and its whole chain are embedded."""
    certificate = key.certificate
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": certificate.issuer, "serial_number": certificate.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": DIGEST}),
            "signed_attrs": attributes,
            "signature_algorithm": algos.SignedDigestAlgorithm(
                {"algorithm": f"{DIGEST}_{'ecdsa' if key.algorithm == 'ec' else 'rsa'}"}
            ),
            "signature": signature,
        }
    )
    encap: dict = {"content_type": "data"}
    if content is not None:
        encap["content"] = content
    return cms.ContentInfo(
        {
            "content_type": "signed_data",
            "content": cms.SignedData(
                {
                    "version": "v1",
                    "digest_algorithms": [algos.DigestAlgorithm({"algorithm": DIGEST})],
                    "encap_content_info": encap,
                    "certificates": cms.CertificateSet.load(
                        _certificate_set(tuple(c.dump() for c in (certificate, *key.chain)))
                    ),
                    "signer_infos": [signer_info],
                }
            ),
        }
    )


def container_size(key: SigningKey) -> int:
    """Exact DER size of a detached SignedData for this key (the signature is the only variable)."""
    return _container_size(key.certificate.dump(), tuple(c.dump() for c in key.chain), key.algorithm,
                           key.signature_size)


@lru_cache(maxsize=64)  # depends on the certificates only: computed once per key, not per document
def _container_size(certificate_der: bytes, chain_der: tuple[bytes, ...], algorithm: str, signature_size: int) -> int:
    certificate = x509.Certificate.load(certificate_der)
    placeholder = signed_attributes(bytes(32), certificate, signing_time_now())
    facts = _KeyFacts(certificate, tuple(x509.Certificate.load(der) for der in chain_der), algorithm)
    return len(signed_data(facts, placeholder, bytes(signature_size)).dump())


@dataclass(frozen=True)
class _KeyFacts:
    """What ``signed_data`` reads of a key."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    algorithm: str


async def sign_cms(
    content: bytes, key: SigningKey, *, signing_time: datetime | None = None
) -> CmsSignature:
    """A detached CAdES-BES signature over ``content``."""
    signing_time = signing_time or signing_time_now()
    digest = hashlib.new(DIGEST, content).digest()
    attributes = signed_attributes(digest, key.certificate, signing_time)
    signature = await key.sign_digest(attributes_digest(attributes), DIGEST)
    return CmsSignature(
        der=signed_data(key, attributes, signature).dump(),
        signing_time=signing_time,
        content_sha256=digest.hex(),
    )
