"""Bounded waiting: per-token queues of signatures, one prompt of each kind per origin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ..errors import Code, SignerError


@dataclass
class TokenQueues:
    """At most ``size`` signatures waiting for or using one token; beyond that, BUSY."""

    size: int
    _waiting: dict[str, int] = field(default_factory=dict)

    @asynccontextmanager
    async def slot(self, token_serial: str) -> AsyncIterator[None]:
        if self._waiting.get(token_serial, 0) >= self.size:
            raise SignerError(Code.BUSY, "too many signatures waiting for this token",
                              vi="có quá nhiều chữ ký đang chờ token này")
        self._waiting[token_serial] = self._waiting.get(token_serial, 0) + 1
        try:
            yield
        finally:
            self._waiting[token_serial] -= 1


@dataclass
class PromptGuard:
    """One prompt of a kind (``what``) per origin at a time: a second one is refused, not stacked."""

    what: str
    what_vi: str
    _active: set[str] = field(default_factory=set)

    @asynccontextmanager
    async def prompt(self, caller: str) -> AsyncIterator[None]:
        if caller in self._active:
            raise SignerError(Code.BUSY, f"{self.what} of this website is already open",
                              vi=f"{self.what_vi} của trang web này đang mở")
        self._active.add(caller)
        try:
            yield
        finally:
            self._active.discard(caller)
