"""Enrolment asked from the desktop companion's settings window: a key pair and a request on
a token, then the issued certificate loaded next to the key (``signer.keys.enrolment``).

The PIN is asked the way a signature's is: through the daemon's PIN source (the companion's PIN
dialog, with the token's flags), its outcome told to the dialog, a wrong PIN never retried. The
token work runs off the event loop, one enrolment at a time, and leaves one audit line each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from ..audit import AuditLog
from ..errors import as_signer_error
from ..keys import KeyStore
from ..keys.csr import Subject
from ..keys.enrolment import Imported, NewRequest, import_certificate, request_certificate
from ..logs import get_logger
from .caller import COMPANION, Caller
from .prompts import PIN_PURPOSE, PinPurpose, Prompts
from .trail import audited

if TYPE_CHECKING:
    from asn1crypto import x509

T = TypeVar("T")
log = get_logger(__name__)

REQUEST, IMPORT = "enroll.request", "enroll.import"  # the audit trail's operations
PIN_OPERATION = "enroll"  # what the PIN dialog says the PIN is for


class Enrolment:
    def __init__(self, keys: KeyStore, prompts: Prompts, audit: AuditLog) -> None:
        self.keys = keys
        self.prompts = prompts
        self.audit = audit
        self._one_at_a_time = asyncio.Lock()  # one PIN dialog and one read-write session at once

    async def request(self, token: str, *, key: str, label: str, subject: Subject) -> NewRequest:
        return await self._run(REQUEST, lambda: request_certificate(self.keys, token, key=key, label=label,
                                                                     subject=subject))

    async def load(self, token: str, certificates: Sequence[x509.Certificate]) -> Imported:
        return await self._run(IMPORT, lambda: import_certificate(self.keys, token, certificates))

    async def _run(self, operation: str, work: Callable[[], T]) -> T:
        with audited(self.audit, Caller(origin=None, client=COMPANION), operation):
            async with self._one_at_a_time:
                purpose = PIN_PURPOSE.set(PinPurpose(COMPANION, PIN_OPERATION))
                try:
                    result = await asyncio.to_thread(work)  # the thread asks the PIN in this context
                except Exception as exc:
                    error = as_signer_error(exc)
                    # a refused PIN is the dialog's to show; any other failure came before the PIN or after a good one
                    await self.prompts.pin_result(error if error.code.startswith("PIN_") else None)
                    if error is exc:
                        raise
                    log.error("enrolment_failed", operation=operation, exc_info=exc)
                    raise error from exc  # the companion is answered, not left waiting
                finally:
                    PIN_PURPOSE.reset(purpose)
                await self.prompts.pin_result(None)
                return result
