"""Is any certificate on a chain revoked? OCSP first, then the CRL, under the policy.

Each certificate is asked about at its issuer: the OCSP responders its AIA names, then
the CRLs of its distribution points. Cached answers still within their nextUpdate are
used without asking again. When nothing answers, ``hard-fail`` refuses
(REVOCATION_UNKNOWN), ``soft-fail`` goes on, and ``offline-grace`` accepts a cached CRL
up to the configured grace past its nextUpdate. The answers relied on are returned: a
B-LT signature embeds them. All the requests of one check (the whole chain, retries
included) share one budget, ``fetch_budget_s``: a responder that never answers costs at most
that, and the certificates not yet answered for are then unknown.

The addresses asked are those of a chain already validated up to a configured trust anchor
(``presign`` builds it from the certificates at hand, fetching nothing), so they are the
configured CAs' own word; no issuer certificate is ever fetched, and ``fetch`` asks http(s)
only, without following redirects, bounded in time and size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from policies.revocation import RevocationPolicy

from ..errors import Code, SignerError
from ..logs import get_logger
from ..waits import REVOCATION
from .crl import CrlUnusable
from .fetch import Budget, FetchFailed, fetch
from .ocsp import OcspUnusable, answer_is_fresh, check_ocsp_response, ocsp_request
from .store import RevocationStore, StoredCrl

log = get_logger(__name__)


@dataclass(frozen=True)
class Evidence:
    """The revocation answers a check relied on (DER), for a validator years later."""

    ocsp: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()
    complete: bool = True  # False: some certificate went unchecked (soft-fail)


@dataclass(frozen=True)
class _Asking:
    """How one check asks: its session, the policy, and the time left for all of it."""

    session: aiohttp.ClientSession
    policy: RevocationPolicy
    budget: Budget

    async def fetch(self, url: str, *, body: bytes | None = None, content_type: str | None = None) -> bytes:
        return await fetch(self.session, url, self.policy, body=body, content_type=content_type,
                           budget=self.budget, kind=REVOCATION)


@dataclass(frozen=True)
class Status:
    revoked_at: datetime | None
    reason: str | None
    ocsp: bytes | None = None
    crl: bytes | None = None


async def check_revocation(chain: Sequence[x509.Certificate], policy: RevocationPolicy, store: RevocationStore,
                           moment: datetime) -> Evidence:
    """``chain``: the signer's certificate first, each next one the issuer of the one before,
    ending at the trust anchor (which is not asked about)."""
    ocsps: list[bytes] = []
    crls: list[bytes] = []
    complete = True
    async with aiohttp.ClientSession() as session:
        asking = _Asking(session, policy, Budget.start(policy.fetch_budget_s))
        for certificate, issuer in zip(chain[:-1], chain[1:], strict=True):
            status = await _status(asking, certificate, issuer, store, moment)
            name = _name(certificate)
            if status is None:
                if policy.mode == "soft-fail":
                    log.warning("revocation status unknown; signing under soft-fail", certificate=name)
                    complete = False
                    continue
                over = asking.budget.remaining() <= 0
                spent = f" ({asking.budget.spent()})" if over else ""
                spent_vi = (f" (đã dùng hết {asking.budget.seconds:g} giây dành cho việc tải dữ liệu thu hồi)"
                            if over else "")
                raise SignerError(Code.REVOCATION_UNKNOWN, f"{name}: no OCSP or CRL answer{spent}",
                                  vi=f"{name}: không nhận được trả lời OCSP hoặc CRL{spent_vi}")
            if status.revoked_at is not None and status.revoked_at <= moment:
                reason = f", {status.reason}" if status.reason else ""
                raise SignerError(Code.CERT_REVOKED,
                                  f"{name}: revoked on {status.revoked_at:%Y-%m-%d %H:%M} UTC{reason}",
                                  vi=f"{name}: bị thu hồi lúc {status.revoked_at:%H:%M} ngày "
                                     f"{status.revoked_at:%d/%m/%Y} (giờ UTC){reason}")
            if status.ocsp is not None:
                ocsps.append(status.ocsp)
            if status.crl is not None and status.crl not in crls:
                crls.append(status.crl)
    return Evidence(tuple(ocsps), tuple(crls), complete)


async def _status(asking: _Asking, certificate: x509.Certificate, issuer: x509.Certificate,
                  store: RevocationStore, moment: datetime) -> Status | None:
    policy = asking.policy
    for url in _ocsp_urls(certificate):
        status = await _ocsp_status(asking, url, certificate, issuer, store, moment)
        if status is not None:
            return status
    urls = _crl_urls(certificate)
    if not urls:
        return None
    cached = store.latest_crl(issuer)
    if cached is not None and not cached.index.facts.covers(certificate):
        cached = None
    if cached is not None and _fresh(cached, moment):
        return _crl_status(cached, certificate)
    for url in urls:
        try:
            stored = store.store_crl(await asking.fetch(url), issuer)
        except (FetchFailed, CrlUnusable) as exc:
            log.info("CRL not usable", url=url, error=str(exc))
            continue
        if stored.index.facts.covers(certificate):
            return _crl_status(stored, certificate)
    if cached is not None and policy.mode == "offline-grace" and _within_grace(cached, moment, policy):
        log.warning("CRL distribution point unreachable; using the cached CRL within the offline grace",
                    certificate=_name(certificate), next_update=str(cached.index.facts.next_update))
        return _crl_status(cached, certificate)
    return None


async def _ocsp_status(asking: _Asking, url: str, certificate: x509.Certificate, issuer: x509.Certificate,
                       store: RevocationStore, moment: datetime) -> Status | None:
    cached = store.ocsp(certificate, issuer)
    if cached is not None:
        try:
            answer = check_ocsp_response(cached, certificate, issuer, nonce=None, moment=moment)
            if answer_is_fresh(answer, moment) and answer.status != "unknown":
                return Status(answer.revoked_at, answer.reason, ocsp=cached)
        except OcspUnusable:
            pass
    request, nonce = ocsp_request(certificate, issuer, nonce=asking.policy.wants_nonce(url))
    try:
        der = await asking.fetch(url, body=request, content_type="application/ocsp-request")
        answer = check_ocsp_response(der, certificate, issuer, nonce=nonce, moment=moment)
    except (FetchFailed, OcspUnusable) as exc:
        log.info("OCSP not usable", url=url, error=str(exc))
        return None
    if answer.status == "unknown":
        return None
    store.store_ocsp(certificate, issuer, der)
    return Status(answer.revoked_at, answer.reason, ocsp=der)


def _crl_status(stored: StoredCrl, certificate: x509.Certificate) -> Status:
    entry = stored.index.lookup(certificate.serial_number)
    return Status(entry.revoked_at if entry else None, entry.reason if entry else None, crl=stored.der())


def _fresh(stored: StoredCrl, moment: datetime) -> bool:
    facts = stored.index.facts
    return facts.next_update is not None and facts.this_update <= moment < facts.next_update


def _within_grace(stored: StoredCrl, moment: datetime, policy: RevocationPolicy) -> bool:
    facts = stored.index.facts
    return facts.next_update is not None and moment < facts.next_update + policy.offline_grace


def _ocsp_urls(certificate: x509.Certificate) -> list[str]:
    try:
        access = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in access
            if d.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)]


def _crl_urls(certificate: x509.Certificate) -> list[str]:
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [name.value for point in points for name in point.full_name or []
            if isinstance(name, x509.UniformResourceIdentifier)]


def _name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()
