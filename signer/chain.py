"""Building a certificate's issuer chain from the certificates we know (tokens, trust store)."""

from __future__ import annotations

from collections.abc import Iterable

from asn1crypto import x509


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
