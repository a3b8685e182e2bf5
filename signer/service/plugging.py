"""A signature that finds no token waits for it: the official is asked to plug it in (the
companion's dialog, or a terminal line) and the signature goes on when it arrives, up to
``[tokens] wait_s``, then ``TOKEN_NOT_PRESENT``. With nobody to ask, or nothing watching for
tokens, it fails at once, as before."""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress

from ..errors import Code, SignerError
from ..keys import Key, KeyStore
from ..keys.watch import ARRIVED, TokenWatch
from ..logs import get_logger
from .caller import Caller
from .prompts import PlugInRequest, Prompts

log = get_logger(__name__)


class TokenWaits:
    def __init__(self, keys: KeyStore, watch: TokenWatch | None, prompts: Prompts, wait_s: float) -> None:
        self.keys = keys
        self.watch = watch
        self.prompts = prompts
        self.wait_s = wait_s

    async def key(self, caller: Caller, selector: str | None, operation: str) -> Key:
        """The key for ``selector``, waiting for its token when none is plugged in."""
        try:
            return await self.keys.signing_key(selector)
        except SignerError as error:
            if error.code != Code.TOKEN_NOT_PRESENT or not self._can_wait():
                raise
        return await self._plugged_in(caller, selector, operation)

    def _can_wait(self) -> bool:
        return self.watch is not None and self.wait_s > 0 and self.prompts.can_ask_plug_in

    async def _plugged_in(self, caller: Caller, selector: str | None, operation: str) -> Key:
        assert self.watch is not None
        self.watch.start()  # a command's watchers start with its first wait
        request = PlugInRequest(origin=caller.name, operation=operation, wait_s=self.wait_s, certificate=selector)
        deadline = time.monotonic() + self.wait_s
        log.info("token_awaited", origin=caller.name, operation=operation, wait_s=self.wait_s)
        async with self.watch.listen() as changes:  # listening before the next look: no arrival is missed
            asking = asyncio.ensure_future(self.prompts.plug_in(request))
            try:
                while True:
                    try:
                        return await self.keys.signing_key(selector)
                    except SignerError as error:
                        # a token without the certificate asked for (another official's, or the first
                        # of two plugged in): the wait goes on for the right one
                        if error.code not in (Code.TOKEN_NOT_PRESENT, Code.CERT_NOT_FOUND):
                            raise
                        found = error
                    await self._next_arrival(changes, asking, deadline, found)
            finally:
                asking.cancel()
                with suppress(asyncio.CancelledError, SignerError, ConnectionError):
                    await asking

    async def _next_arrival(self, changes: asyncio.Queue, asking: asyncio.Future, deadline: float,
                            found: SignerError) -> None:
        """Until something arrives; the official giving up or the wait running out ends it (with
        ``found``, what the last look found, when a token without the certificate is plugged in)."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if found.code == Code.CERT_NOT_FOUND:
                    raise found
                raise SignerError(Code.TOKEN_NOT_PRESENT, f"no token was plugged in within {self.wait_s:g} s",
                                  vi=f"không có token nào được cắm vào trong {self.wait_s:g} giây")
            getting = asyncio.ensure_future(changes.get())
            done, _ = await asyncio.wait({getting, asking}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            if getting not in done:
                getting.cancel()
            if asking in done:
                asking.result()  # the asker's own error, if it failed
                raise SignerError(Code.USER_CANCELLED, "the official stopped waiting for the token")
            if getting in done and getting.result().kind == ARRIVED:
                return
