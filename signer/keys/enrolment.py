"""Enrolment through the key layer: pick the token, generate a key pair and a PKCS#10 request on
it, then load the issued certificate and its chain next to that key.

A certificate whose public key matches no private key on the token is refused (KEY_NOT_FOUND):
stored anyway, it would list as a signing certificate that can never sign.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import csr, pem, x509

from drivers.enrolment import EC_P256, RSA_2048, RSA_3072, EnrolmentSession, KeySpec
from drivers.errors import TokenError
from drivers.tokeninfo import TokenInfo
from drivers.tokens import Pkcs11Module

from ..certificates import holder_name, is_ca
from ..errors import Code, SignerError
from ..files import read_input
from .csr import Subject, build_request
from .store import KeyStore
from .token import driver_call, key_error

KEY_SPECS: dict[str, KeySpec] = {"rsa2048": RSA_2048, "rsa3072": RSA_3072, "p256": EC_P256}


@dataclass(frozen=True)
class NewRequest:
    token: TokenInfo
    key_id: bytes
    label: str
    request: csr.CertificationRequest


@dataclass(frozen=True)
class Imported:
    token: TokenInfo
    key_id: bytes
    label: str
    added: bool  # False: the certificate was on the token already
    chain_added: int  # chain certificates stored (those already there are not counted)


def request_certificate(store: KeyStore, token: str | None, *, key: str, label: str, subject: Subject,
                        key_id: bytes | None = None) -> NewRequest:
    """A new key pair on the token and a request for it, signed by it."""
    spec = KEY_SPECS.get(key)
    if spec is None:
        raise SignerError(Code.BAD_REQUEST, f"key type '{key}': choose one of {', '.join(KEY_SPECS)}",
                          vi=f"loại khóa '{key}': hãy chọn một trong {', '.join(KEY_SPECS)}")
    if not label.strip():
        raise SignerError(Code.BAD_REQUEST, "the key needs a label", vi="khóa cần có nhãn")
    subject.name()  # a subject the CA would refuse is refused before the token is touched
    module, info = find_token(store, token)
    with _enrolment(module, info, store) as session:
        pair = session.generate_key(spec, label.strip(), key_id)
        request = build_request(subject, pair.public_key, lambda digest: session.sign_sha256(pair.key_id, digest))
    return NewRequest(token=info, key_id=pair.key_id, label=pair.label, request=request)


def import_certificate(store: KeyStore, token: str | None, certificates: Sequence[x509.Certificate],
                       label: str | None = None) -> Imported:
    """Store the one end-entity certificate among ``certificates`` next to its private key (same
    CKA_ID; CKA_LABEL the key's unless ``label``), and each CA certificate, its chain, as a
    certificate of its own (no key)."""
    leaves = [c for c in certificates if not is_ca(c)]
    chain = [c for c in certificates if is_ca(c)]
    if len(leaves) != 1:
        names = ", ".join(holder_name(c) for c in leaves) or "none"
        raise SignerError(Code.BAD_REQUEST, f"give exactly one certificate that is not a CA's (found: {names})",
                          vi=f"cần đúng một chứng thư số không phải của CA (đã có: {names})")
    certificate = leaves[0]
    module, info = find_token(store, token)
    with _enrolment(module, info, store) as session:
        match = session.key_for(certificate.public_key.dump())
        if match is None:
            raise SignerError(Code.KEY_NOT_FOUND, f"'{holder_name(certificate)}' is for a key not on token "
                                                  f"'{info.label}'", label=info.label)
        key_id, key_label = match
        chosen = (label or key_label).strip() or holder_name(certificate)
        added = session.store_certificate(certificate.dump(), chosen, key_id)
        chain_added = sum(
            session.store_certificate(extra.dump(), holder_name(extra), _ca_id(extra)) for extra in chain
        )
    return Imported(token=info, key_id=key_id, label=chosen, added=added, chain_added=chain_added)


def read_certificates(path: Path) -> list[x509.Certificate]:
    """The certificates in a PEM (one or several) or DER file."""
    return parse_certificates(read_input(path), str(path))


def parse_certificates(data: bytes, name: str) -> list[x509.Certificate]:
    """The certificates in PEM (one or several) or DER ``data``, read from ``name``."""
    blobs = [der for _, _, der in pem.unarmor(data, multiple=True)] if pem.detect(data) else [data]
    try:
        certificates = [x509.Certificate.load(der) for der in blobs]
        for certificate in certificates:
            _ = certificate.native  # parse fully now: a damaged file fails here, not on the token
    except ValueError:
        raise SignerError(Code.FILE_UNREADABLE, f"{name} is not an X.509 certificate",
                          vi=f"{name} không phải là chứng thư số X.509") from None
    if not certificates:
        raise SignerError(Code.FILE_UNREADABLE, f"{name} holds no certificate",
                          vi=f"{name} không chứa chứng thư số nào")
    return certificates


def find_token(store: KeyStore, selector: str | None) -> tuple[Pkcs11Module, TokenInfo]:
    """The initialised token with this serial or label (the only one, when none is named)."""
    found = [(module, info) for module in store.modules for info in driver_call(module.tokens)
             if info.flags.initialized]
    if selector is not None:
        found = [(m, t) for m, t in found if selector in (t.serial, t.label)]
    if not found:
        named = f" '{selector}'" if selector else ""
        named_vi = f" mang số sê-ri hoặc nhãn '{selector}'" if selector else ""
        raise SignerError(Code.TOKEN_NOT_PRESENT, f"no initialised token{named} is connected",
                          vi=f"không có token đã khởi tạo nào{named_vi} đang được cắm")
    if len(found) > 1:
        labels = ", ".join(f"{t.label} ({t.serial})" for _, t in found)
        raise SignerError(Code.BAD_REQUEST, f"several tokens are connected; choose one with --token: {labels}",
                          vi=f"đang cắm nhiều token; hãy chọn một token bằng --token: {labels}")
    return found[0]


@contextmanager
def _enrolment(module: Pkcs11Module, token: TokenInfo, store: KeyStore) -> Iterator[EnrolmentSession]:
    try:
        with EnrolmentSession(module, token, store.pins) as session:
            yield session
    except TokenError as exc:
        raise key_error(exc) from None


def _ca_id(certificate: x509.Certificate) -> bytes:
    """CKA_ID of a chain certificate: its key identifier, as the CAs' own tools set it."""
    return certificate.key_identifier or hashlib.sha1(certificate.public_key["public_key"].contents).digest()
