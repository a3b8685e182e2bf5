"""The audit trail's lines for each thing an edge does: one line per request, command or
batch document, written the same way whichever edge it came through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..audit import AuditLog
from ..errors import as_signer_error
from .caller import ABSENT, Caller


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
