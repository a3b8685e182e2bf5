"""pyHanko's own fetchers (OCSP, CRL, issuer certificates), every request under the URL policy.

The fetching stays pyHanko's (``AIOHttpFetcherBackend``); its HTTP session carries one client
middleware that sees every request, the redirects aiohttp follows included, before it is
sent: a URL outside the policy, a redirect to another scheme, host or port, a request beyond
the document's count or time or the signature's budget, and an answer beyond the size limit
are refused there. pyHanko takes the refusal as a failed fetch (the signature is then judged
without that answer), and every URL is written down for the report.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin

import aiohttp
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import FetchLimits

from ..logs import get_logger
from ..urls import REDIRECTS, origin
from ..waits import REVOCATION, Wait, waiting
from .fetch_policy import FAILED, FETCHED, REFUSED, Fetch, FetchPolicy

log = get_logger(__name__)

MAX_NOTES = 100  # URLs written down for one document (a certificate may name any number)


class PolicyRefusal(aiohttp.ClientError):
    """A request the URL policy does not allow (a ClientError: pyHanko's fetchers catch those)."""


class FetchFailure(aiohttp.ClientError):
    """No usable answer (timeouts and socket errors too, which pyHanko's fetchers would not catch)."""


class PolicedFetcherBackend(AIOHttpFetcherBackend):
    """pyHanko's aiohttp fetchers on a session that asks only what ``policy`` allows; ``fetches``
    lists every URL wanted, in order. Made and closed on the loop that verifies."""

    def __init__(self, policy: FetchPolicy, per_request_timeout: float) -> None:
        self.policy = policy
        self.fetches: list[Fetch] = []
        self._requests = 0
        self._deadline = asyncio.get_running_loop().time() + policy.total_s
        self._signature_deadline = self._deadline
        session = aiohttp.ClientSession(middlewares=(self._police,), trust_env=False)
        super().__init__(session, per_request_timeout, limits=FetchLimits(max_requests=policy.max_requests))

    async def close(self) -> None:
        await self.session.close()  # our own session: the parent closes only the one it made

    def begin_signature(self) -> None:
        """The next signature's fetching starts: its own ``signature_s``, within the document's time."""
        self._signature_deadline = asyncio.get_running_loop().time() + self.policy.signature_s

    def _remaining(self) -> tuple[float, str]:
        """The time left for the next request, and what it is once spent."""
        now = asyncio.get_running_loop().time()
        if self._signature_deadline < self._deadline:
            return self._signature_deadline - now, \
                f"the signature's {self.policy.signature_s:g} s for revocation fetching are spent"
        return self._deadline - now, f"the document's {self.policy.total_s:g} s for fetching are spent"

    async def _police(self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
                      ) -> aiohttp.ClientResponse:
        url = str(request.url)
        remaining, spent = self._remaining()
        reason = self.policy.refusal(url)
        if reason is None and self._requests >= self.policy.max_requests:
            reason = f"more than {self.policy.max_requests} requests for one document"
        if reason is None and remaining <= 0:
            reason = spent
        if reason is not None:
            self._note(url, REFUSED, reason)
            raise PolicyRefusal(f"{url}: {reason}")
        self._requests += 1
        try:
            with waiting(Wait(REVOCATION, url, self.policy.signature_s)):
                async with asyncio.timeout(remaining):
                    response = await handler(request)
                    if response.status in REDIRECTS:
                        self._check_redirect(url, response)
                        return response  # aiohttp follows it: the next request comes through here again
                    body = await self._read_bounded(url, response)
        except (PolicyRefusal, FetchFailure):
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            why = spent if self._remaining()[0] <= 0 else type(exc).__name__
            self._note(url, FAILED, why)
            raise FetchFailure(f"{url}: {why}") from None
        # aiohttp keeps a read body here and read() returns it; pyHanko reads with read()
        response._body = body
        self._note(url, FETCHED if response.status == 200 else FAILED,
                    None if response.status == 200 else f"HTTP {response.status}")
        return response

    def _check_redirect(self, url: str, response: aiohttp.ClientResponse) -> None:
        target = urljoin(url, response.headers.get("Location", ""))
        if origin(target) is None or origin(target) != origin(url):
            response.close()
            reason = f"redirected to another scheme, host or port ({target[:200]})"
            self._note(url, REFUSED, reason)
            raise PolicyRefusal(f"{url}: {reason}")

    async def _read_bounded(self, url: str, response: aiohttp.ClientResponse) -> bytes:
        limit = self.policy.max_bytes
        if response.content_length is not None and response.content_length > limit:
            response.close()
            raise self._too_large(url)
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                response.close()
                raise self._too_large(url)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, url: str) -> PolicyRefusal:
        reason = f"the answer is larger than {self.policy.max_bytes // 1024} KB"
        self._note(url, REFUSED, reason)
        return PolicyRefusal(f"{url}: {reason}")

    def _note(self, url: str, outcome: str, reason: str | None) -> None:
        if outcome == REFUSED:
            log.info("verification fetch refused", host=_host(url), reason=reason)  # the path may carry data
        if len(self.fetches) < MAX_NOTES:
            self.fetches.append(Fetch(url[:300], outcome, reason))



def _host(url: str) -> str:
    where = origin(url)
    return where[1] if where else "(malformed URL)"
