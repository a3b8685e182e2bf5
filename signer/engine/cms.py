"""CMS building blocks (CAdES-BES): signed attributes, SignedData assembly, detached signing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from asn1crypto import algos, cms, core, tsp, x509
from pyhanko.sign.general import as_signing_certificate_v2

from .key import CertifiedKey, SigningKey

DIGEST = "sha256"
# asn1crypto.tsp registers the attribute's value type; the dotted OID works whatever the
# order of imports (asn1crypto caches its name-to-OID table at first use).
SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
assert tsp.SetOfSigningCertificatesV2


@dataclass(frozen=True)
class CmsSignature:
    der: bytes
    signing_time: datetime
    content_sha256: str


def signing_time_now() -> datetime:
    """The current instant in UTC, whole seconds (as encoded in UTCTime)."""
    return datetime.now(UTC).replace(microsecond=0)


def signed_attributes(
    content_digest: bytes, certificate: x509.Certificate, signing_time: datetime
) -> cms.CMSAttributes:
    """content-type, message-digest, signing-time (true UTC) and signing-certificate-v2."""
    if signing_time.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")
    utc = signing_time.astimezone(UTC)
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
        {"type": SIGNING_CERTIFICATE_V2, "values": [as_signing_certificate_v2(certificate, DIGEST)]}
    ).dump()


def attributes_digest(attributes: cms.CMSAttributes) -> bytes:
    """What the token signs: the digest of the DER-encoded signed attributes."""
    return hashlib.new(DIGEST, attributes.dump()).digest()


def signed_data(
    key: CertifiedKey, attributes: cms.CMSAttributes, signature: bytes, content: bytes | None = None
) -> cms.ContentInfo:
    """Assemble SignedData: the signer's certificate and its whole chain are embedded.

    Everything but the signed attributes and the signature depends on the key only: it is
    encoded once per key (``_key_parts``) and the container is put together as DER bytes.
    asn1crypto would re-encode (and deep-copy) the certificates for every document."""
    parts = _key_parts(key.certificate.dump(), tuple(c.dump() for c in key.chain), key.algorithm)
    encap = _der(0x06, DATA_OID)
    if content is not None:
        encap += _der(0xA0, _der(0x04, content))
    signed_attrs = b"\xa0" + attributes.dump()[1:]  # SET OF, as [0] IMPLICIT
    signer_info = _der(0x30, parts.signer_head + signed_attrs + parts.signature_algorithm + _der(0x04, signature))
    body = parts.signed_data_head + _der(0x30, encap) + parts.certificates + _der(0x31, signer_info)
    return cms.ContentInfo.load(_der(0x30, _der(0x06, SIGNED_DATA_OID) + _der(0xA0, _der(0x30, body))))


DATA_OID = bytes.fromhex("2a864886f70d010701")  # 1.2.840.113549.1.7.1
SIGNED_DATA_OID = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2


@dataclass(frozen=True)
class _KeyParts:
    signed_data_head: bytes  # version, digestAlgorithms
    certificates: bytes  # [0] IMPLICIT CertificateSet
    signer_head: bytes  # version, sid, digestAlgorithm
    signature_algorithm: bytes


@lru_cache(maxsize=64)
def _key_parts(certificate_der: bytes, chain_der: tuple[bytes, ...], algorithm: str) -> _KeyParts:
    certificate = x509.Certificate.load(certificate_der)
    sid = cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
        {"issuer": certificate.issuer, "serial_number": certificate.serial_number})})
    digest_algorithm = algos.DigestAlgorithm({"algorithm": DIGEST}).dump()
    certificates = cms.CertificateSet([x509.Certificate.load(der) for der in (certificate_der, *chain_der)]).dump()
    return _KeyParts(
        signed_data_head=core.Integer(1).dump() + _der(0x31, digest_algorithm),
        certificates=b"\xa0" + certificates[1:],
        signer_head=core.Integer(1).dump() + sid.dump() + digest_algorithm,
        signature_algorithm=algos.SignedDigestAlgorithm(
            {"algorithm": f"{DIGEST}_{'ecdsa' if algorithm == 'ec' else 'rsa'}"}).dump(),
    )


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + body


def container_size(key: SigningKey) -> int:
    """Exact DER size of a detached SignedData for this key (the signature is the only variable)."""
    return _container_size(key.certificate.dump(), tuple(c.dump() for c in key.chain), key.algorithm,
                           key.signature_size)


@lru_cache(maxsize=64)  # depends on the certificates only: computed once per key, not per document
def _container_size(certificate_der: bytes, chain_der: tuple[bytes, ...], algorithm: str, signature_size: int) -> int:
    certificate = x509.Certificate.load(certificate_der)
    placeholder = signed_attributes(bytes(32), certificate, signing_time_now())
    facts = _SizingKey(certificate, tuple(x509.Certificate.load(der) for der in chain_der), algorithm)
    return len(signed_data(facts, placeholder, bytes(signature_size)).dump())


@dataclass(frozen=True)
class _SizingKey:
    """What ``signed_data`` reads of a key, when only the container's size is wanted."""

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
