"""HTTP for revocation data and timestamps: the policy's address rewrites, a timeout per
request and a few retries when no answer came (an answer, even a refusal, is final)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp

from policies.revocation import RevocationPolicy

from ..logs import get_logger

log = get_logger(__name__)

MAX_RESPONSE_BYTES = 512 * 1024 * 1024  # a national CRL can be large; not without bound


class FetchFailed(Exception):
    """No usable answer from ``url`` (message says why; never shown with a traceback)."""


async def fetch(session: aiohttp.ClientSession, url: str, policy: RevocationPolicy, *, body: bytes | None = None,
                content_type: str | None = None, timeout_s: float | None = None, retries: int | None = None) -> bytes:
    """GET ``url`` (POST ``body`` when given) after the policy's rewrites."""
    target = policy.rewrite(url)
    if urlsplit(target).scheme not in ("http", "https"):
        raise FetchFailed(f"{target}: only http and https are fetched")
    timeout = aiohttp.ClientTimeout(total=timeout_s or policy.timeout_s)
    attempts = 1 + (policy.retries if retries is None else retries)
    headers = {"Content-Type": content_type} if content_type else {}
    reason = ""
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), 5.0))
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
            log.info("fetch retry" if attempt + 1 < attempts else "fetch failed", url=target, error=reason)
    raise FetchFailed(reason or f"{target}: no answer")
