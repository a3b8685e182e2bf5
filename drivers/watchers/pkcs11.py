"""Tokens appearing in and leaving a PKCS#11 module's slots, by polling its slot list.

``C_WaitForSlotEvent`` is not used: blocking in it would hold the module's one worker
thread (every call into the module runs there, see ``drivers.worker``), and its
non-blocking form tells no more than listing the slots. Modules that only notice a
new token when started afresh (SoftHSM) are re-initialised on each poll, but only
while no session of theirs is open, so that nobody's login is lost.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import TokenError
from ..tokens import Pkcs11Module
from .events import Observation, Threaded


class Pkcs11Watcher(Threaded):
    name = "pkcs11"

    def __init__(self, module: Pkcs11Module, *, interval_s: float = 2.0, reinitialise: bool = True) -> None:
        super().__init__()
        self.module = module
        self.interval_s = interval_s
        self.reinitialise = reinitialise

    def start(self, emit: Callable[[Observation], None]) -> None:
        self._begin(self._run, emit)

    def _run(self, emit: Callable[[Observation], None]) -> None:
        seen: dict[str, Observation] = {}  # "slot/serial" -> its arrival
        first = True
        while True:
            try:
                tokens = self.module.poll_tokens(self.reinitialise)
            except TokenError:
                tokens = None  # the module failed this time: keep what was seen, look again
            if tokens is not None:
                # an uninitialised token (SoftHSM's free slot) holds no key: not a token to report
                now = {f"{t.slot_id}/{t.serial}": t for t in tokens if t.flags.initialized}
                for key in set(seen) - set(now):
                    gone = seen.pop(key)
                    emit(Observation("left", "pkcs11", key, slot=gone.slot, label=gone.label, module=gone.module))
                for key in set(now) - set(seen):
                    token = now[key]
                    seen[key] = Observation("arrived", "pkcs11", key, slot=token.slot_id, label=token.label,
                                            initial=first, module=str(self.module.path))
                    emit(seen[key])
                first = False
            if self._stopped.wait(self.interval_s):
                return
