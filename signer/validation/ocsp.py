"""OCSP: the request for one certificate, and the checks an answer must pass before it
counts: the responder's signature (the issuer itself, or a responder certificate the
issuer made for OCSP signing), the certificate asked about, the nonce, freshness."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

CLOCK_SKEW = timedelta(minutes=5)
MAX_AGE_WITHOUT_NEXT_UPDATE = timedelta(hours=24)


class OcspUnusable(Exception):
    """The answer cannot be relied on; the message says why."""


@dataclass(frozen=True)
class OcspAnswer:
    status: str  # "good", "revoked" or "unknown"
    revoked_at: datetime | None
    reason: str | None
    this_update: datetime
    next_update: datetime | None


def ocsp_request(certificate: x509.Certificate, issuer: x509.Certificate, *, nonce: bool) -> tuple[bytes, bytes | None]:
    """The DER request and the nonce it carries (None when asked without one)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1())
    value = os.urandom(16) if nonce else None
    if value is not None:
        builder = builder.add_extension(x509.OCSPNonce(value), critical=False)
    return builder.build().public_bytes(Encoding.DER), value


def check_ocsp_response(der: bytes, certificate: x509.Certificate, issuer: x509.Certificate, *,
                        nonce: bytes | None, moment: datetime) -> OcspAnswer:
    # asn1crypto reads what some responders encode loosely (e.g. fractional seconds in
    # producedAt); signatures are checked on the bytes as received.
    try:
        response = asn1_ocsp.OCSPResponse.load(der)
        if response["response_status"].native != "successful":
            raise OcspUnusable(f"the responder answered {response['response_status'].native}")
        basic = response["response_bytes"]["response"].parsed
        tbs = basic["tbs_response_data"]
        single = _single_response(tbs, certificate, issuer)
        _check_signature(basic, issuer, moment)
        if nonce is not None:
            for extension in tbs["response_extensions"] or []:
                if extension["extn_id"].native == "nonce" and extension["extn_value"].parsed.native != nonce:
                    raise OcspUnusable("the nonce does not match the request")
        this_update = single["this_update"].native
        next_update = single["next_update"].native
        status = single["cert_status"].name
        revoked = single["cert_status"].chosen if status == "revoked" else None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise OcspUnusable(f"not a readable OCSP response ({type(exc).__name__})") from None
    if this_update > moment + CLOCK_SKEW:
        raise OcspUnusable("the answer is dated in the future")
    if (next_update or this_update + MAX_AGE_WITHOUT_NEXT_UPDATE) < moment - CLOCK_SKEW:
        raise OcspUnusable("the answer is out of date")
    return OcspAnswer(
        status=status if status in ("good", "revoked") else "unknown",
        revoked_at=revoked["revocation_time"].native if revoked is not None else None,
        reason=revoked["revocation_reason"].native if revoked is not None and revoked["revocation_reason"].native
        else None,
        this_update=this_update, next_update=next_update)


def answer_is_fresh(answer: OcspAnswer, moment: datetime) -> bool:
    return answer.next_update is not None and answer.next_update > moment


def _single_response(tbs, certificate: x509.Certificate, issuer: x509.Certificate):
    key_hash = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest  # SHA-1 of the key bits
    for single in tbs["responses"]:
        cert_id = single["cert_id"]
        if cert_id["serial_number"].native != certificate.serial_number:
            continue
        if cert_id["hash_algorithm"]["algorithm"].native == "sha1" and cert_id["issuer_key_hash"].native != key_hash:
            continue
        return single
    raise OcspUnusable("the answer is about another certificate")


def _check_signature(basic, issuer: x509.Certificate, moment: datetime) -> None:
    signer = _responder(basic, issuer, moment)
    algorithm = basic["signature_algorithm"]
    _verify(signer.public_key(), basic["signature"].native, basic["tbs_response_data"].dump(),
            _HASHES.get(algorithm.hash_algo))


_HASHES = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


def _responder(basic, issuer: x509.Certificate, moment: datetime) -> x509.Certificate:
    """The issuer, or a responder certificate issued by it for OCSP signing (RFC 6960 4.2.2.2)."""
    responder_id = basic["tbs_response_data"]["responder_id"]
    if _is_named(issuer, responder_id):
        return issuer
    for embedded in basic["certs"] or []:
        candidate = x509.load_der_x509_certificate(embedded.dump())
        if not _is_named(candidate, responder_id):
            continue
        if candidate.issuer != issuer.subject:
            raise OcspUnusable("the responder's certificate was not issued by the certificate's issuer")
        try:
            candidate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise OcspUnusable("the responder's certificate does not verify") from None
        try:
            usages = list(candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        except x509.ExtensionNotFound:
            usages = []
        if ExtendedKeyUsageOID.OCSP_SIGNING not in usages:
            raise OcspUnusable("the responder's certificate is not for OCSP signing")
        if not candidate.not_valid_before_utc - CLOCK_SKEW <= moment <= candidate.not_valid_after_utc + CLOCK_SKEW:
            raise OcspUnusable("the responder's certificate is not valid now")
        return candidate
    raise OcspUnusable("the responder is neither the issuer nor authorised by it")


def _is_named(certificate: x509.Certificate, responder_id) -> bool:
    if responder_id.name == "by_name":
        return asn1_x509.Name.load(certificate.subject.public_bytes()) == responder_id.chosen
    key_hash = x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest
    return key_hash == responder_id.chosen.native


def _verify(public_key, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None) -> None:
    if algorithm is None:
        raise OcspUnusable("unsupported signature algorithm")
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            raise OcspUnusable("unsupported responder key type")
    except InvalidSignature:
        raise OcspUnusable("the responder's signature does not verify") from None
