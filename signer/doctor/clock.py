"""The computer's clock against the timestamp authority's (else a revocation responder's) HTTP
``Date``: a clock that is wrong makes certificates look expired or not yet valid and puts a
wrong time in signatures. The ``Date`` header has one-second steps and the answer takes time
to come back, so both are allowed for before comparing."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from .endpoints import endpoints
from .machine import Machine
from .result import CheckResult, Fix, Status, result

NAME = "clock"
WARN_S, FAIL_S = 60.0, 300.0
TIMEOUT_S = 4.0
ASKED = 3  # addresses tried at most, one after the other

SET_CLOCK = Fix("chỉnh đồng hồ máy tính (bật đồng bộ thời gian tự động: timedatectl set-ntp true)",
                "set the computer's clock (turn on automatic time: timedatectl set-ntp true)")
NO_ANSWER = Fix("kiểm tra mạng tới máy chủ dấu thời gian, rồi chạy lại signer doctor",
                "check the network to the timestamp server, then run signer doctor again")


async def check_clock(machine: Machine) -> CheckResult:
    urls = sorted(endpoints(machine), key=lambda e: e.kind != "tsa")[:ASKED]  # the TSA's time first
    if not urls:
        return result(NAME, "warn", "cannot check: no timestamp or revocation address configured", NO_ANSWER)
    reasons = []
    async with aiohttp.ClientSession() as session:
        for endpoint in urls:
            try:
                offset, slack = await _offset(session, endpoint.url)
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
                reasons.append(f"{endpoint.url}: {type(exc).__name__}")
                continue
            off_by = max(0.0, abs(offset) - slack)
            found = f"{abs(offset):.0f} s {'behind' if offset > 0 else 'ahead of'} {endpoint.url}"
            status: Status = "fail" if off_by > FAIL_S else "warn" if off_by > WARN_S else "pass"
            return result(NAME, status, found, SET_CLOCK)
    return result(NAME, "warn", "cannot check: " + ", ".join(reasons), NO_ANSWER)


async def _offset(session: aiohttp.ClientSession, url: str) -> tuple[float, float]:
    """The server's time minus ours (seconds), and how much of it the measurement cannot tell apart."""
    sent = time.time()
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S), allow_redirects=False) as reply:
        date = reply.headers.get("Date")
    back = time.time()
    if date is None:
        raise ValueError("no Date header")
    theirs = parsedate_to_datetime(date).astimezone(UTC)
    ours = datetime.fromtimestamp((sent + back) / 2, UTC)
    return (theirs - ours).total_seconds(), (back - sent) / 2 + 1.0
