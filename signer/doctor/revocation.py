"""Can the revocation responders and the timestamp authority be reached now, and is each CRL
fresh (its nextUpdate still ahead)? Every request is bounded to a few seconds; nothing is kept."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import aiohttp
from cryptography import x509

from ..validation.fetch import FetchFailed, fetch
from .endpoints import Endpoint, endpoints
from .machine import Machine
from .result import CheckResult, Finding, Fix, combine

NAME = "revocation"
TIMEOUT_S = 4.0

UNREACHABLE = Fix("kiểm tra mạng, proxy và tường lửa tới địa chỉ trên (hoặc [[revocation.rewrite]] trong tệp cấu hình)",
                  "check the network, proxy and firewall towards that address (or [[revocation.rewrite]] in the "
                  "configuration)")
DEVELOPMENT = Fix("khởi động dịch vụ của CA thử nghiệm: ./softhsm-setup.sh THƯ_MỤC --services",
                  "start the test CA's responders: ./softhsm-setup.sh DIR --services")
STALE = Fix("CA chưa phát hành CRL mới: báo cho CA; trong lúc chờ, [revocation] policy = \"offline-grace\"",
            "the CA has not published a new CRL: tell the CA; meanwhile [revocation] policy = \"offline-grace\"")


async def check_revocation(machine: Machine) -> CheckResult:
    unreachable = DEVELOPMENT if machine.settings.development else UNREACHABLE
    async with aiohttp.ClientSession() as session:
        found = await asyncio.gather(*(_finding(session, e, machine, unreachable) for e in endpoints(machine)))
    return combine(NAME, list(found), none=Finding("warn", "no OCSP, CRL or timestamp address to check", Fix(
        "thêm chứng thư trung gian của CA vào [trust] intermediates", "add the CA's intermediates to [trust] "
        "intermediates")))


async def _finding(session: aiohttp.ClientSession, endpoint: Endpoint, machine: Machine, unreachable: Fix
                   ) -> Finding:
    if endpoint.kind == "crl":
        return await _crl(session, endpoint.url, machine, unreachable)
    try:
        async with session.get(endpoint.url, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
                               allow_redirects=False) as reply:
            # an OCSP responder or TSA answers a bare GET with an error status: it is there
            return Finding("pass", f"{endpoint.kind.upper()} {endpoint.url} answers (HTTP {reply.status})")
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return Finding("fail", f"{endpoint.kind.upper()} {endpoint.url} does not answer: {type(exc).__name__}",
                       unreachable)


async def _crl(session: aiohttp.ClientSession, url: str, machine: Machine, unreachable: Fix) -> Finding:
    try:
        # the address is already rewritten (``endpoints``)
        policy = replace(machine.settings.revocation.policy, rewrites=())
        der = await fetch(session, url, policy, timeout_s=TIMEOUT_S, retries=0)
    except FetchFailed as exc:
        return Finding("fail", f"CRL {url} not fetched: {exc}", unreachable)
    try:
        crl = x509.load_der_x509_crl(der) if not der.startswith(b"-----") else x509.load_pem_x509_crl(der)
    except ValueError:
        return Finding("fail", f"CRL {url} is not a CRL", STALE)
    next_update = crl.next_update_utc
    if next_update is None or next_update <= datetime.now(UTC):
        return Finding("fail", f"CRL {url} is stale (next update {next_update or 'not given'})", STALE)
    return Finding("pass", f"CRL {url} fresh until {next_update:%Y-%m-%d %H:%M} UTC")
