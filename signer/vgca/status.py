"""VGCA reply statuses: 0 success, 11 cancelled by the user, and one number per kind of failure
(the ``vgca_status`` column of the error table, ``signer/errors.py``).

Existing pages only test ``Status == 0`` (and 11); the other numbers are stable so
integrators can tell failures apart. ``Message`` carries the Vietnamese text.
"""

from __future__ import annotations

from typing import Any

from ..errors import KINDS, VGCA_CANCELLED, VGCA_OTHER, SignerError
from ..service.repaired import NOTE_VI

OK = 0
CANCELLED = VGCA_CANCELLED
OTHER = VGCA_OTHER
# the codes with a status of their own (the integrators' guide lists them)
STATUS_BY_CODE: dict[str, int] = {code: kind.vgca_status for code, kind in KINDS.items() if kind.vgca_status != OTHER}


def status_for(error: SignerError) -> int:
    return error.vgca_status


def failure(error: SignerError, **extra: Any) -> dict[str, Any]:
    return {"Status": status_for(error), "Message": error.message_vi, "Code": error.code, **extra}


def success(**fields: Any) -> dict[str, Any]:
    return {"Status": OK, "Message": "", **fields}


def repaired_note(repaired: bool) -> str:
    """A signed document's ``Message``: whether it was a damaged one, signed in its lossless rewrite."""
    return NOTE_VI if repaired else ""
