"""The official, in tests that are not about the dialogs: a real companion core connected
over the real channel, whose dialogs answer every consent prompt by themselves."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tray.bridge import DialogBridge
from tray.core import TrayCore


class AnsweringDialogs:
    def __init__(self, decision: str, delay_s: float, gate: threading.Event | None,
                 opened: threading.Event | None, plug_in: Callable[[DialogBridge], None] | None = None) -> None:
        self.decision = decision
        self.delay_s = delay_s
        self.gate = gate
        self.opened = opened
        self.plug_in = plug_in

    def open(self, bridge: DialogBridge) -> None:
        if bridge.kind == "plug_in" and self.plug_in is not None:
            self.plug_in(bridge)
        if bridge.kind == "consent":
            if self.opened is not None:
                self.opened.set()
            threading.Thread(target=self._answer, args=(bridge,), daemon=True).start()

    def close(self, bridge: DialogBridge) -> None:
        pass

    def _answer(self, bridge: DialogBridge) -> None:
        if self.gate is not None:
            self.gate.wait(60)
        threading.Event().wait(self.delay_s)
        bridge.answer(self.decision)


@contextmanager
def answering_companion(state_dir: Path, decision: str = "once", *, delay_s: float = 0.0,
                        gate: threading.Event | None = None, opened: threading.Event | None = None,
                        plug_in: Callable[[DialogBridge], None] | None = None) -> Iterator[TrayCore]:
    """Consent prompts are answered with ``decision`` after ``delay_s`` (and after ``gate`` is set);
    ``opened`` is set when a consent dialog opens; ``plug_in`` is called with each dialog asking
    for the token."""
    core = TrayCore(state_dir, AnsweringDialogs(decision, delay_s, gate, opened, plug_in))
    core.start()
    assert core.connected.wait(10), core.error
    try:
        yield core
    finally:
        core.stop()
