"""A remote key's signatures gathered into few calls. While one ``signatures/signHash`` call is
out, the digests that arrive wait and go together in the next (up to the credential's
``multisign`` and ``MAX_CHUNK``): a batch needs about (its wall time / the round trip) calls,
not two per document.

Authorisation: a batch says how many signatures are coming (``expect``). With SCAL 1 one
``credentials/authorize`` covers as many of them as the service allows (``multisign``) and its
SAD serves every chunk; the next one is asked for while the chunk that uses it up is out. With
SCAL 2 (the SAD bound to its hashes) each chunk is authorised with its own hashes. The official
is asked once for a credential's PIN, for every signature coming (kept in this object only while
it signs); a one-time code is asked for each authorisation. A call whose answer never came
(refused, reset, timed out) is made once more, with the same hashes and the same SAD; an error
answer is not retried. A failure fails every signature waiting and every one asked for after
it: a batch ends on it, and its next run (resume) signs with a key of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from drivers.csc import Credential, CscClient, RemoteError

from ..logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")
MAX_CHUNK = 64  # hashes per call whatever the service allows: answers stay small, a failed call costs few


class Secrets(Protocol):
    """What authorises signatures (``remote.Authorisation``): the PIN and one-time code, if any."""

    @property
    def pin(self) -> str | None: ...

    @property
    def otp(self) -> str | None: ...


@dataclass
class Waiting:
    digest: bytes
    algorithm: str
    signature: asyncio.Future[bytes]


@dataclass
class Sad:
    """A SCAL 1 authorisation and how many signatures it still covers."""

    value: str
    left: int


@dataclass
class Gathering:
    """The signatures of one credential: ``sign`` waits for its digest's turn in a chunk."""

    credential: Credential
    key_algorithm: str  # "rsa" or "ec"
    connect: Callable[[], AbstractAsyncContextManager[CscClient]]  # a client of the credential's service
    authorisation: Callable[[int], Awaitable[Secrets]]  # the PIN / OTP for so many signatures
    signing_s: float = 0.0  # time spent in signHash calls (for batch statistics)
    _expected: int = 0  # signatures announced and not made yet
    _waiting: deque[Waiting] = field(default_factory=deque)
    _sad: Sad | None = None
    _next: asyncio.Task[Sad] | None = None  # SCAL 1: the SAD after this one, asked for while a chunk is out
    _sender: asyncio.Task | None = None
    _failed: Exception | None = None
    _secrets: Secrets | None = None  # a PIN alone, asked once for the batch

    @property
    def bound(self) -> bool:
        """SCAL 2: each authorisation names its hashes."""
        return self.credential.scal >= 2

    @property
    def chunk(self) -> int:
        """The most hashes one call carries."""
        return max(1, min(MAX_CHUNK, self.credential.multisign))

    def expect(self, count: int) -> None:
        """``count`` signatures are coming (a batch): authorised together where the service allows."""
        self._expected = count

    async def sign(self, digest: bytes, algorithm: str) -> bytes:
        """The signature of ``digest``; RemoteError (or the authorisation's SignerError) if its chunk failed."""
        if self._failed is not None:
            raise self._failed
        signature: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting.append(Waiting(digest, algorithm, signature))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send())
        return await signature

    async def _send(self) -> None:
        """Chunks go out one after the other while digests wait; the session stays open meanwhile."""
        try:
            async with self.connect() as client:
                while chunk := await self._take(client):
                    try:
                        signatures = await self._sign_chunk(client, chunk)
                    except Exception as exc:  # noqa: BLE001 - every waiting signature learns the failure
                        self._fail(chunk, exc)
                        continue
                    self._expected = max(0, self._expected - len(chunk))
                    for waiting, signature in zip(chunk, signatures, strict=True):
                        if not waiting.signature.done():
                            waiting.signature.set_result(signature)
        except Exception as exc:  # noqa: BLE001 - the session's own failure: nobody waits forever
            self._fail([], exc)
        finally:
            self._sender = None
        if self._waiting:  # arrived while the session closed
            self._sender = asyncio.get_running_loop().create_task(self._send())

    async def _take(self, client: CscClient) -> list[Waiting]:
        """The next chunk: digests of one algorithm, as many as a call and (SCAL 1) the SAD allow."""
        while self._waiting and self._waiting[0].signature.done():
            self._waiting.popleft()  # its signer gave up (a cancelled batch): not signed
        size = self.chunk
        if not self.bound and (self._waiting or self._next is not None):
            try:  # one asked for ahead is kept even if nothing waits now (the session closes then)
                size = min(size, (await self._sad_for(client)).left)
            except Exception as exc:  # noqa: BLE001 - as a chunk's failure
                self._fail([], exc)
                return []
        algorithm = self._waiting[0].algorithm if self._waiting else ""
        chunk: list[Waiting] = []
        while self._waiting and len(chunk) < size and self._waiting[0].algorithm == algorithm:
            waiting = self._waiting.popleft()
            if not waiting.signature.done():
                chunk.append(waiting)
        return chunk

    async def _sad_for(self, client: CscClient) -> Sad:
        """SCAL 1: the SAD in use, else the one asked for ahead, else a new one."""
        if self._next is not None:
            if self._sad is not None and self._sad.left > 0:
                return self._sad
            next_sad, self._next = self._next, None
            self._sad = await next_sad
        if self._sad is None or self._sad.left <= 0:
            self._sad = await self._authorised(client, self._coming(0))
        return self._sad

    def _coming(self, sent: int) -> int:
        """How many signatures a new SAD covers: those still coming beyond ``sent``, at most ``multisign``."""
        return min(max(1, self.credential.multisign), max(self._expected - sent, len(self._waiting), 1))

    async def _secrets_for(self, count: int) -> Secrets:
        """What authorises ``count`` signatures: a PIN alone is asked once for all those coming."""
        if self._secrets is not None:
            return self._secrets
        if self.credential.otp is not None:
            return await self.authorisation(count)  # a one-time code: asked again for each authorisation
        self._secrets = await self.authorisation(max(count, self._expected))
        return self._secrets

    async def _authorised(self, client: CscClient, count: int) -> Sad:
        secrets = await self._secrets_for(count)
        value = await self._once_more(lambda: client.authorize(self.credential.id, [], pin=secrets.pin,
                                                               otp=secrets.otp, signatures=count))
        return Sad(value, count)

    async def _sign_chunk(self, client: CscClient, chunk: list[Waiting]) -> list[bytes]:
        hashes = [w.digest for w in chunk]
        if self.bound:
            secrets = await self._secrets_for(len(hashes))
            sad = await self._once_more(lambda: client.authorize(self.credential.id, hashes, pin=secrets.pin,
                                                                 otp=secrets.otp, digest=chunk[0].algorithm))
        else:
            assert self._sad is not None  # taken with the chunk
            sad = self._sad.value
            self._sad.left -= len(hashes)  # used even if the answer is lost: never counted on twice
            if self._sad.left <= 0 and (self._waiting or self._expected > len(hashes)):
                self._next = asyncio.ensure_future(self._authorised(client, self._coming(len(hashes))))
        started = time.monotonic()
        try:
            return await self._once_more(lambda: client.sign_hashes(
                self.credential, sad, hashes, key_algorithm=self.key_algorithm, digest=chunk[0].algorithm))
        finally:
            self.signing_s += time.monotonic() - started

    async def _once_more(self, request: Callable[[], Awaitable[T]]) -> T:
        """``request``, made again once if no answer came (the same hashes, the same SAD)."""
        try:
            return await request()
        except RemoteError as exc:
            if exc.reached:
                raise
            log.warning("remote_call_retried", credential=self.credential.id, reason=exc.detail)
        return await request()

    def _fail(self, chunk: list[Waiting], exc: Exception) -> None:
        """The chunk's signatures, every one waiting and every one asked for later fail."""
        self._failed = exc
        self._sad = self._secrets = None
        if self._next is not None:
            self._next.cancel()  # its outcome does not matter now
            self._next.add_done_callback(lambda task: task.cancelled() or task.exception())
            self._next = None
        for waiting in (*chunk, *self._waiting):
            if not waiting.signature.done():
                waiting.signature.set_exception(exc)
        self._waiting.clear()
