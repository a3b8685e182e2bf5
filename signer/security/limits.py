"""Bounded everything: per-origin rates, per-token queues, one prompt per origin."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ..errors import SignerError


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """Token bucket per caller (an origin, or 'local')."""

    rate: float
    burst: float
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def allow(self, caller: str) -> bool:
        now = time.monotonic()
        bucket = self._buckets.setdefault(caller, _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True


@dataclass
class TokenQueues:
    """At most ``size`` signatures waiting for or using one token; beyond that, BUSY."""

    size: int
    _waiting: dict[str, int] = field(default_factory=dict)

    @asynccontextmanager
    async def slot(self, token_serial: str) -> AsyncIterator[None]:
        if self._waiting.get(token_serial, 0) >= self.size:
            raise SignerError("BUSY", "too many signatures waiting for this token")
        self._waiting[token_serial] = self._waiting.get(token_serial, 0) + 1
        try:
            yield
        finally:
            self._waiting[token_serial] -= 1


@dataclass
class PromptGuard:
    """One PIN prompt per origin at a time: a second one is refused, not stacked."""

    _active: set[str] = field(default_factory=set)

    @asynccontextmanager
    async def prompt(self, caller: str) -> AsyncIterator[None]:
        if caller in self._active:
            raise SignerError("BUSY", "a PIN request of this website is already open")
        self._active.add(caller)
        try:
            yield
        finally:
            self._active.discard(caller)
