"""The audit trail's lines for each thing an edge does: one line per request, command or
batch document, written the same way whichever edge it came through; refused requests
counted (``Refusals``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..audit import AuditLog
from ..errors import as_signer_error
from .caller import ABSENT, Caller

REFUSED = "refused"  # the operation of a window whose refusals were for several operations
OTHERS = "others"  # the origin of refusals counted together once MAX_WINDOWS are open
MAX_WINDOWS = 256


def record(audit: AuditLog, caller: Caller | None, operation: str, result: str, *, name: str = ABSENT) -> None:
    """One line: who (``name`` when no caller could be established), what, the facts the
    operation learnt (certificate, document), and the result code."""
    facts = caller.audit if caller is not None else {}
    if caller is not None and caller.outcome and result == "OK":
        result = caller.outcome  # a reply that carries its own status (VGCA)
    audit.record(
        origin=caller.name if caller is not None else name,
        operation=operation[:200],
        result=result,
        certificate_sha256=facts.get("certificate_sha256"),
        document_sha256=facts.get("document_sha256"),
        document_size=facts.get("document_size"),
        confirmation=facts.get("confirmation"),
        placement=facts.get("placement"),
        repaired_sha256=facts.get("repaired_sha256"),
        remote=facts.get("remote"),
    )


@contextmanager
def audited(audit: AuditLog, caller: Caller, operation: str) -> Iterator[Caller]:
    """Run an operation for ``caller``; its line is written whatever the outcome."""
    try:
        yield caller
    except BaseException as exc:
        record(audit, caller, operation, as_signer_error(exc).code)
        raise
    record(audit, caller, operation, "OK")


# who was refused: the line's origin, the peer when no Origin named the caller, and the code
Key = tuple[str, str | None, str]


@dataclass
class _Window:
    opened: float
    operation: str  # the refused operation, or REFUSED once they differ
    timer: asyncio.TimerHandle
    count: int = 1


@dataclass
class Refusals:
    """Refused requests, counted per origin (or per peer when there is no Origin) and code.

    A page on a refused origin, or a local program without the token, can send thousands of
    requests a second; a line each would fill the log and rotate away the lines that matter.
    The refusals of a ``window_s`` window, from the first, are one line written when the window
    closes (or when the daemon stops): their ``count``, the ``window_s`` they came in, and the
    operation refused (``refused`` when they were for several). Past ``MAX_WINDOWS`` open
    windows, new origins are counted together under ``others``, so that varying the Origin
    does not bring a line per request back. Runs on the event loop.
    """

    audit: AuditLog
    window_s: float
    _windows: dict[Key, _Window] = field(default_factory=dict)

    def note(self, origin: str, operation: str, code: str, *, peer: str | None = None) -> None:
        key: Key = (origin[:200], peer, code)
        if key not in self._windows and len(self._windows) >= MAX_WINDOWS:
            key = (OTHERS, None, code)
        operation = operation[:200]
        window = self._windows.get(key)
        if window is not None:
            window.count += 1
            if window.operation != operation:
                window.operation = REFUSED
            return
        loop = asyncio.get_running_loop()
        self._windows[key] = _Window(loop.time(), operation, loop.call_later(self.window_s, self._close, key))

    def flush(self) -> None:
        """Every open window's line now (the daemon stops)."""
        for key in list(self._windows):
            self._windows[key].timer.cancel()
            self._close(key)

    def _close(self, key: Key) -> None:
        window = self._windows.pop(key)
        span = asyncio.get_running_loop().time() - window.opened
        self.audit.record(origin=key[0], operation=window.operation, result=key[2], peer=key[1], count=window.count,
                          window_s=round(min(span, self.window_s), 3))
