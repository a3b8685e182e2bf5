"""The HTTP exchanges of the CSC client (``drivers.csc``) and its sign-in (``drivers.csc_auth``):
one POST, its answer bounded in size, and the failures as one ``RemoteError`` whose ``kind``
says what the signer can do about it.

The error answers are those of the specification (CSC API 1.0.4.0 § 10.1 and each method's
error table; 2.0.0.2 the same): a JSON object with ``error`` and ``error_description``; a
refused access token is HTTP 401 with ``invalid_token`` or ``expired_token`` (the common error
table; RFC 6750 § 3.1); a failed ``auth/login`` is ``authentication_error`` (v1 and v2 § 11.2);
the OAuth 2.0 token endpoint (v1 § 8.3.3, v2 § 8.4.4) refuses a code or refresh token with
``invalid_grant``, and a generic OAuth 2.0 server a client with ``invalid_client`` (RFC 6749
§ 5.2).
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any

import aiohttp

MAX_ANSWER = 8 * 1024 * 1024  # a credential's chain, or the signatures of a large batch


class RemoteErrorKind(Enum):
    UNREACHABLE = "unreachable"  # no answer: refused, timed out
    LOGIN_REQUIRED = "login_required"  # the access token was refused, even once renewed
    AUTHORISATION_INCORRECT = "authorisation_incorrect"  # a wrong PIN or one-time code
    CREDENTIAL_DISABLED = "credential_disabled"
    REFUSED = "refused"  # any other error answer


# the specification's ``error`` values for a wrong PIN / OTP (v1 credentials/authorize § 11.6;
# invalid_otp also from signatures/signHash, v1 § 11.9, v2 § 11.10; v2's authorize names the
# authData it refuses invalid_authentication_data)
WRONG_SECRET = {"invalid_pin", "invalid_otp", "invalid_authentication_data"}
# API 1.0.4 words some of them as ``invalid_request``, told apart only by the description
WRONG_SECRET_SAID = re.compile(r"\b(PIN|OTP)\b.*\binvalid\b|\binvalid\b.*\b(PIN|OTP)\b", re.IGNORECASE)
# a refused access token, refresh token, client or basic sign-in (see above)
SIGN_IN_REFUSED = {"invalid_token", "expired_token", "authentication_error", "invalid_grant", "invalid_client",
                   "unauthorized_client"}


def kind_of(*, reached: bool, status: int | None, error: str | None, description: str = "") -> RemoteErrorKind:
    if not reached:
        return RemoteErrorKind.UNREACHABLE
    if error in WRONG_SECRET or (error == "invalid_request" and "missing" not in description.lower()
                                 and WRONG_SECRET_SAID.search(description)):
        return RemoteErrorKind.AUTHORISATION_INCORRECT
    if status == 401 or error in SIGN_IN_REFUSED:
        return RemoteErrorKind.LOGIN_REQUIRED
    # the specification names a disabled key only in its descriptions ("... is disabled")
    if error == "invalid_request" and "disabled" in description.lower():
        return RemoteErrorKind.CREDENTIAL_DISABLED
    return RemoteErrorKind.REFUSED


class RemoteError(Exception):
    """A call that failed: ``reached`` False when no answer came (refused, timed out), else the
    service's answer: HTTP ``status`` and the specification's ``error`` / ``error_description``;
    ``kind`` sorts both for the signer's error codes."""

    def __init__(self, detail: str, *, reached: bool, status: int | None = None, error: str | None = None,
                 kind: RemoteErrorKind | None = None, description: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.reached = reached
        self.status = status
        self.error = error
        self.kind = kind or kind_of(reached=reached, status=status, error=error, description=description)


async def post(session: aiohttp.ClientSession, url: str, what: str, *, json_body: dict[str, Any] | None = None,
               form: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """POST ``json_body`` (or a form) to ``url``; its JSON object answer, or RemoteError
    naming ``what`` was asked."""
    try:
        async with session.post(url, json=json_body, data=form, headers=headers or {}) as response:
            body = await _bounded(response)
            status = response.status
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise RemoteError(f"{url}: {type(exc).__name__} {exc}".strip(), reached=False) from None
    except aiohttp.ClientError as exc:
        raise RemoteError(f"{url}: {type(exc).__name__} {exc}".strip(), reached=True) from None
    answer = _json(body)
    if status >= 400:
        error = str(answer.get("error", "")) if isinstance(answer, dict) else ""
        described = str(answer.get("error_description", "")) if isinstance(answer, dict) else ""
        raise RemoteError(f"{what}: HTTP {status} {error} {described}".strip(), reached=True,
                          status=status, error=error or None, description=described)
    if not isinstance(answer, dict):
        raise RemoteError(f"{what}: the answer is not a JSON object", reached=True, status=status)
    return answer


async def _bounded(response: aiohttp.ClientResponse) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(65536):
        body += chunk
        if len(body) > MAX_ANSWER:
            raise RemoteError(f"the answer is over {MAX_ANSWER} bytes", reached=True, status=response.status)
    return bytes(body)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else {}
    except ValueError:
        return None


def field(answer: dict[str, Any], name: str, kind: type) -> Any:
    value = answer.get(name)
    if not isinstance(value, kind):
        raise RemoteError(f"the answer has no {name}", reached=True)
    return value
