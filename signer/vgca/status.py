"""VGCA reply statuses: 0 success, 11 cancelled by the user, and one number per kind of failure.

Existing pages only test ``Status == 0`` (and 11); the other numbers are stable so
integrators can tell failures apart. ``Message`` carries the Vietnamese text.
"""

from __future__ import annotations

from typing import Any

from ..errors import SignerError

OK = 0
CANCELLED = 11

STATUS_BY_CODE: dict[str, int] = {
    "BAD_REQUEST": 2,
    "DOCUMENT_INVALID": 3,
    "DOCUMENT_ENCRYPTED": 3,
    "ANCHOR_NOT_FOUND": 3,
    "TOKEN_NOT_PRESENT": 4,
    "MODULE_NOT_FOUND": 4,
    "MODULE_LOAD_FAILED": 4,
    "TOKEN_ERROR": 4,
    "CERT_NOT_FOUND": 5,
    "CERT_AMBIGUOUS": 5,
    "KEY_NOT_FOUND": 5,
    "CERT_EXPIRED": 5,
    "CERT_NOT_YET_VALID": 5,
    "CERT_REVOKED": 5,
    "CERT_UNTRUSTED": 5,
    "CERT_KEY_USAGE": 5,
    "REVOCATION_UNKNOWN": 5,
    "PIN_INCORRECT": 6,
    "PIN_UNAVAILABLE": 6,
    "PIN_SOURCE_REFUSED": 6,
    "PIN_EXPIRED": 6,
    "PIN_LOCKED": 7,
    "CONSENT_DENIED": 8,
    "ORIGIN_NOT_ALLOWED": 8,
    "DOWNLOAD_FAILED": 9,
    "UPLOAD_FAILED": 10,
    "USER_CANCELLED": CANCELLED,
    "URL_NOT_ALLOWED": 12,
    "NOT_SUPPORTED": 13,
    "TOO_LARGE": 14,
    "BUSY": 15,
    "RATE_LIMITED": 15,
    "TIMEOUT": 16,
}
OTHER = 1  # any other failure


def status_for(error: SignerError) -> int:
    return STATUS_BY_CODE.get(error.code, OTHER)


def failure(error: SignerError, **extra: Any) -> dict[str, Any]:
    return {"Status": status_for(error), "Message": error.message_vi, "Code": error.code, **extra}


def success(**fields: Any) -> dict[str, Any]:
    return {"Status": OK, "Message": "", **fields}
