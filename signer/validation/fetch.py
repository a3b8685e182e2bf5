"""HTTP for revocation data and timestamps: the policy's address rewrites, a timeout per
request and a few retries when no answer came (an answer, even a refusal, is final), all of
it within a ``Budget`` when one is given."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from policies.revocation import RevocationPolicy

from ..logs import get_logger
from ..waits import REVOCATION, Wait, waiting

log = get_logger(__name__)

MAX_RESPONSE_BYTES = 512 * 1024 * 1024  # a national CRL can be large; not without bound


class FetchFailed(Exception):
    """No usable answer from ``url`` (message says why; never shown with a traceback)."""


@dataclass(frozen=True)
class Budget:
    """One span of time shared by several requests (a whole chain's OCSP and CRL fetches)."""

    seconds: float
    deadline: float  # on the running loop's clock

    @classmethod
    def start(cls, seconds: float) -> Budget:
        return cls(seconds, asyncio.get_running_loop().time() + seconds)

    def remaining(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    def spent(self) -> str:
        return f"the {self.seconds:g} s for revocation fetching are spent"


def longest_s(timeout_s: float, retries: int) -> float:
    """How long ``fetch`` may take with no budget: every attempt and the pauses between them."""
    return timeout_s * (1 + retries) + sum(_pause(attempt) for attempt in range(1, 1 + retries))


async def fetch(session: aiohttp.ClientSession, url: str, policy: RevocationPolicy, *, body: bytes | None = None,
                content_type: str | None = None, timeout_s: float | None = None, retries: int | None = None,
                budget: Budget | None = None, kind: str = REVOCATION) -> bytes:
    """GET ``url`` (POST ``body`` when given) after the policy's rewrites; ``kind``: what the
    wait is for (``waits.REVOCATION`` or ``waits.TIMESTAMP``)."""
    target = policy.rewrite(url)
    if urlsplit(target).scheme not in ("http", "https"):
        raise FetchFailed(f"{target}: only http and https are fetched")
    per_request = timeout_s or policy.timeout_s
    attempts = 1 + (policy.retries if retries is None else retries)
    limit = budget.seconds if budget is not None else longest_s(per_request, attempts - 1)
    with waiting(Wait(kind, target, limit)):
        return await _attempts(session, target, body, content_type, per_request, attempts, budget)


async def _attempts(session: aiohttp.ClientSession, target: str, body: bytes | None, content_type: str | None,
                    per_request: float, attempts: int, budget: Budget | None) -> bytes:
    headers = {"Content-Type": content_type} if content_type else {}
    reason = ""
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(min(_pause(attempt), budget.remaining()) if budget is not None else _pause(attempt))
        left = budget.remaining() if budget is not None else per_request
        if budget is not None and left <= 0:
            raise FetchFailed(f"{target}: {budget.spent()}")
        timeout = aiohttp.ClientTimeout(total=min(per_request, left))
        try:
            async with session.request("POST" if body is not None else "GET", target, data=body, headers=headers,
                                       timeout=timeout, allow_redirects=False) as reply:
                if reply.status != 200:
                    raise FetchFailed(f"{target}: HTTP {reply.status}")
                chunks, size = [], 0
                async for chunk in reply.content.iter_chunked(256 * 1024):  # read() gives one chunk only
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise FetchFailed(f"{target}: larger than {MAX_RESPONSE_BYTES // 2**20} MB")
                    chunks.append(chunk)
                return b"".join(chunks)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            reason = f"{target}: {type(exc).__name__} {exc}".strip()
            if budget is not None and budget.remaining() <= 0:
                reason = f"{target}: {budget.spent()}"
            log.info("fetch retry" if attempt + 1 < attempts else "fetch failed", url=target, error=reason)
    raise FetchFailed(reason or f"{target}: no answer")


def _pause(attempt: int) -> float:
    return min(0.5 * 2 ** (attempt - 1), 5.0)
