"""Login sessions end: a token logged in for signatures is logged out after ``login_idle_s``
without a signature, and when the desktop companion quits (at once, or as soon as the
signatures it is busy with end). Logging out goes through the key layer, on each module's
worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..keys import KeyStore
from ..logs import get_logger

log = get_logger(__name__)


class LoginSessions:
    def __init__(self, keys: KeyStore, idle_s: float) -> None:
        self.keys = keys
        self.idle_s = idle_s
        self._active: dict[str, int] = {}  # token serial -> signatures using its login now
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._ending: set[str] = set()  # to log out when their signatures end
        self._tasks: set[asyncio.Task] = set()

    @asynccontextmanager
    async def use(self, serial: str) -> AsyncIterator[None]:
        """The token's login is in use (logging in, signing): it does not end meanwhile."""
        self._cancel(serial)
        self._active[serial] = self._active.get(serial, 0) + 1
        try:
            yield
        finally:
            self._active[serial] -= 1
            if not self._active[serial]:
                del self._active[serial]
                delay = 0.0 if serial in self._ending else self.idle_s
                self._ending.discard(serial)
                self._timers[serial] = asyncio.get_running_loop().call_later(delay, self._expire, serial)

    async def end_all(self) -> None:
        """Every token logs out now; one in use, when its signatures end."""
        for serial in list(self._timers):
            self._cancel(serial)
        self._ending.update(self._active)
        await self.keys.alogout(keep=set(self._active))
        log.info("logged_out", reason="companion")

    def _cancel(self, serial: str) -> None:
        timer = self._timers.pop(serial, None)
        if timer is not None:
            timer.cancel()

    def _expire(self, serial: str) -> None:
        self._timers.pop(serial, None)
        task = asyncio.get_running_loop().create_task(self._log_out(serial))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _log_out(self, serial: str) -> None:
        if serial in self._active:  # a signature started meanwhile: its end starts the clock again
            return
        await self.keys.alogout(serial)
        log.info("logged_out", reason="idle", token=serial)
