"""Certificates as the signer reads them: holder names, the configured trust store, and a
certificate's issuer chain from the certificates we know (tokens, trust store)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem, x509

from .errors import Code, SignerError, os_reason_vi


def holder_name(certificate: x509.Certificate) -> str:
    """The person's or organisation's name, as shown in signature blocks and reports."""
    names = certificate.subject.native
    return names.get("common_name") or names.get("organization_name") or ""


def is_ca(certificate: x509.Certificate) -> bool:
    return bool(certificate.ca) or certificate.self_signed != "no"


@dataclass(frozen=True)
class Trust:
    """The configured trust anchors and intermediates (the OS store is never trusted implicitly)."""

    anchors: tuple[x509.Certificate, ...] = ()
    intermediates: tuple[x509.Certificate, ...] = ()

    @classmethod
    def load(cls, anchors: Iterable[Path], intermediates: Iterable[Path]) -> Trust:
        return cls(tuple(load_certificates(anchors)), tuple(load_certificates(intermediates)))


def load_certificates(paths: Iterable[Path]) -> list[x509.Certificate]:
    certs = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SignerError(Code.CONFIG_INVALID, f"cannot read certificate {path}: {exc.strerror}",
                              vi=f"không đọc được chứng thư số {path}: {os_reason_vi(exc)}") from None
        blobs = [der for _, _, der in pem.unarmor(data, multiple=True)] if pem.detect(data) else [data]
        try:
            certs += [x509.Certificate.load(der) for der in blobs]
        except ValueError:
            raise SignerError(Code.CONFIG_INVALID, f"{path} is not a certificate",
                              vi=f"{path} không phải là chứng thư số") from None
    return certs


def build_chain(leaf: x509.Certificate, pool: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """Issuers of ``leaf`` in order (intermediates first, root last), as far as the pool reaches.

    Matching is by issuer name and, where present, key identifier; signatures are
    checked by validation, not here.
    """
    candidates = _unique(pool)
    chain: list[x509.Certificate] = []
    current = leaf
    seen = {leaf.sha256}
    while current.self_signed == "no":
        issuer = next((c for c in candidates if _issued(current, c) and c.sha256 not in seen), None)
        if issuer is None:
            break
        chain.append(issuer)
        seen.add(issuer.sha256)
        current = issuer
    return tuple(chain)


def _issued(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    aki = child.authority_key_identifier
    ski = parent.key_identifier
    return aki is None or ski is None or aki == ski


def _unique(pool: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    by_hash: dict[bytes, x509.Certificate] = {}
    for cert in pool:
        by_hash.setdefault(cert.sha256, cert)
    return list(by_hash.values())
