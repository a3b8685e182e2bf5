"""What verifying a document may fetch: the URL policy, as plain data.

A document's certificates name addresses (AIA caIssuers, OCSP responders, CRL distribution
points) and a validator would ask them all; the document is the sender's choice, so those
addresses are too. Verification asks only http(s) URLs on the configured CAs' hosts: the
hosts that the configured trust anchors and intermediates themselves name, the timestamp
authority, the targets of ``[[revocation.rewrite]]`` and ``[revocation] fetch_hosts``; each
answer bounded in size, the whole document's fetching in requests and time, and each
signature's in time (``[revocation] fetch_budget_s``). The policy is
a frozen dataclass of strings and numbers, so it crosses to a worker process with the
document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from asn1crypto import x509

from policies.revocation import RevocationPolicy

from ..urls import DEFAULT_PORTS, UrlRefused, host_port

FETCHED, REFUSED, FAILED = "fetched", "refused", "failed"


@dataclass(frozen=True)
class Fetch:
    """One URL verification wanted: asked and answered, refused by the policy, or asked without a usable answer."""

    url: str
    outcome: str  # FETCHED, REFUSED or FAILED
    reason: str | None = None  # why refused or failed


@dataclass(frozen=True)
class FetchPolicy:
    hosts: frozenset[str]  # "host:port", lower-case
    max_bytes: int  # one answer
    max_requests: int  # one document
    total_s: float  # all of one document's requests together
    signature_s: float = RevocationPolicy.fetch_budget_s  # all the requests for one signature together

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be asked, or None when it may."""
        try:
            target = host_port(url)
        except UrlRefused as refused:
            return str(refused)
        return None if target in self.hosts else f"{target} is not a host of the configured CAs"


def build_policy(certificates: Iterable[x509.Certificate], *, urls: Iterable[str], hosts: Iterable[str],
                 max_bytes: int, max_requests: int, total_s: float,
                 signature_s: float = RevocationPolicy.fetch_budget_s) -> FetchPolicy:
    """The hosts ``certificates`` (the configured CAs) name, those of ``urls`` (the TSA, the
    rewrite targets) and ``hosts`` ("host" for ports 80 and 443, or "host:port")."""
    allowed: set[str] = set()
    for url in [*(u for c in certificates for u in named_urls(c)), *urls]:
        allowed |= _url_host(url)
    for entry in hosts:
        parts = urlsplit(f"//{entry}")  # checked when the configuration was read
        host = (parts.hostname or "").lower()
        allowed |= {f"{host}:{port}" for port in ([parts.port] if parts.port else DEFAULT_PORTS.values())}
    return FetchPolicy(frozenset(allowed), max_bytes, max_requests, total_s, signature_s)


def named_urls(certificate: x509.Certificate) -> list[str]:
    """The OCSP, CRL (full and delta) and caIssuers URLs a certificate names."""
    urls = list(certificate.ocsp_urls)
    for point in [*certificate.crl_distribution_points, *certificate.delta_crl_distribution_points]:
        name = point["distribution_point"]
        if name.name == "full_name":
            urls += [g.native for g in name.chosen if g.name == "uniform_resource_identifier"]
    for access in certificate.authority_information_access_value or []:
        location = access["access_location"]
        if access["access_method"].native == "ca_issuers" and location.name == "uniform_resource_identifier":
            urls.append(location.native)
    return urls


def _url_host(url: str) -> set[str]:
    try:
        return {host_port(url)}
    except UrlRefused:
        return set()
