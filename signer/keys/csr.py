"""PKCS#10 certificate requests with the subject fields Vietnamese CAs use.

The subject's text fields are UTF8Strings (names with diacritics), C is "VN", and the identity
number goes into UID in the CA's forms: ``CMND:`` (identity card, 9 or 12 digits), ``CCCD:``
(citizen identity card, 12 digits), ``MST:`` (tax code, 10 digits, or 13 as ``0123456789-001``
for a branch).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import algos, core, csr, keys, pem, x509

from ..errors import Code, SignerError

UID_FORMS = {
    "CMND": re.compile(r"\d{9}|\d{12}"),
    "CCCD": re.compile(r"\d{12}"),
    "MST": re.compile(r"\d{10}(-\d{3})?"),
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Upper bounds of RFC 5280, appendix A (a CA refuses longer values); UID has none there.
_MAX_LENGTH = {"common_name": 64, "title": 64, "organization_name": 64, "organizational_unit_name": 64,
               "locality_name": 128, "state_or_province_name": 128, "country_name": 2, "email_address": 255,
               "user_id": 64}


@dataclass(frozen=True)
class Subject:
    common_name: str
    title: str | None = None
    organization: str | None = None
    organizational_unit: str | None = None
    locality: str | None = None
    state: str | None = None
    country: str = "VN"
    email: str | None = None
    uid: str | None = None  # "CMND:…", "CCCD:…" or "MST:…"

    def name(self) -> x509.Name:
        """The X.501 name (C, ST, L, O, OU, T, CN, UID, E, as Vietnamese CAs order them);
        refuses what a CA would refuse."""
        fields = {
            "common_name": self.common_name, "title": self.title, "organization_name": self.organization,
            "organizational_unit_name": self.organizational_unit, "locality_name": self.locality,
            "state_or_province_name": self.state, "country_name": self.country, "email_address": self.email,
            "user_id": self.uid,
        }
        given = {key: value.strip() for key, value in fields.items() if value is not None and value.strip()}
        if "common_name" not in given:
            raise SignerError(Code.BAD_REQUEST, "the subject needs a common name (CN)",
                              vi="thông tin chủ thể cần có tên (CN)")
        for key, value in given.items():
            if len(value) > _MAX_LENGTH[key]:
                raise SignerError(Code.BAD_REQUEST, f"{key} is longer than {_MAX_LENGTH[key]} characters",
                                  vi=f"{key} dài quá {_MAX_LENGTH[key]} ký tự")
        if not re.fullmatch(r"[A-Z]{2}", given.get("country_name", "")):
            raise SignerError(Code.BAD_REQUEST, "the country (C) is two capital letters, e.g. VN",
                              vi="mã quốc gia (C) gồm hai chữ cái in hoa, ví dụ VN")
        if "email_address" in given and not (given["email_address"].isascii()
                                             and _EMAIL.fullmatch(given["email_address"])):
            raise SignerError(Code.BAD_REQUEST, f"not an e-mail address: {given['email_address']}",
                              vi=f"không phải địa chỉ thư điện tử: {given['email_address']}")
        if "user_id" in given:
            check_uid(given["user_id"])
        return x509.Name.build(given)


def check_uid(uid: str) -> None:
    """Refuses an identity number not in one of the CA's forms (``CCCD:001234567890``)."""
    prefix, colon, number = uid.partition(":")
    form = UID_FORMS.get(prefix)
    if not colon or form is None:
        forms = ", ".join(f"{form}:" for form in UID_FORMS)
        raise SignerError(Code.BAD_REQUEST, f"UID '{uid}' must start with one of {forms}",
                          vi=f"UID '{uid}' phải bắt đầu bằng một trong các tiền tố {forms}")
    if not form.fullmatch(number):
        raise SignerError(Code.BAD_REQUEST, f"UID '{uid}': not a valid {prefix} number",
                          vi=f"UID '{uid}': không phải số {prefix} hợp lệ")


def _signature_algorithm(key_algorithm: str) -> algos.SignedDigestAlgorithm:
    if key_algorithm == "rsa":  # RFC 4055: sha256WithRSAEncryption carries NULL parameters
        return algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": core.Null()})
    return algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})


def build_request(subject: Subject, public_key: bytes,
                  sign_sha256: Callable[[bytes], bytes]) -> csr.CertificationRequest:
    """A PKCS#10 request for ``public_key`` (SubjectPublicKeyInfo DER), signed by its private key
    through ``sign_sha256`` (a SHA-256 digest in, a DER signature out)."""
    key_info = keys.PublicKeyInfo.load(public_key)
    info = csr.CertificationRequestInfo({
        "version": "v1",
        "subject": subject.name(),
        "subject_pk_info": key_info,
        "attributes": [],
    })
    signature = sign_sha256(hashlib.sha256(info.dump()).digest())
    return csr.CertificationRequest({
        "certification_request_info": info,
        "signature_algorithm": _signature_algorithm(key_info.algorithm),
        "signature": signature,
    })


def encode_request(request: csr.CertificationRequest, *, der: bool) -> bytes:
    """DER, or PEM ("CERTIFICATE REQUEST", as openssl and the CAs' portals expect)."""
    data = request.dump()
    return data if der else pem.armor("CERTIFICATE REQUEST", data)
