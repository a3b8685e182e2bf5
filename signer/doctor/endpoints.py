"""The addresses signing depends on: the OCSP responders and CRL distribution points that the
certificates in use and the configured intermediates name, and the timestamp authority; each
after the configured address rewrites, as a signature would ask it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asn1crypto import x509

from ..keys import TokenKey
from .machine import Machine

Kind = Literal["ocsp", "crl", "tsa"]


@dataclass(frozen=True)
class Endpoint:
    kind: Kind
    url: str


def endpoints(machine: Machine) -> list[Endpoint]:
    certificates: list[x509.Certificate] = [*machine.trust().intermediates]
    for key in machine.signing_keys().values():
        if isinstance(key, TokenKey):
            certificates += [key.certificate, *key.chain]
    found = [Endpoint("ocsp", url) for c in certificates for url in c.ocsp_urls]
    found += [Endpoint("crl", point.url) for c in certificates for point in c.crl_distribution_points if point.url]
    if machine.settings.timestamp.url:
        found.append(Endpoint("tsa", machine.settings.timestamp.url))
    policy = machine.settings.revocation.policy
    return list(dict.fromkeys(Endpoint(e.kind, policy.rewrite(e.url)) for e in found))
