"""What the official is asked, and who asks: the desktop companion (tray), the terminal
under ``signer serve --interactive``, or nobody (then a request that needs an answer is
refused at once, with a code that says why).

Every question is bounded: one open per origin, a deadline (``[consent] timeout_s``), and
an answer that never travels through the page's API.
"""

from __future__ import annotations

import asyncio
import base64
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol

from asn1crypto import x509

from ..errors import Code, SignerError
from ..keys.pins import Pin, PinRequest, pin_refused, tries_warning
from ..keys.remote import Authorisation, AuthorisationRequest
from .placing import Placing

ONCE, ALWAYS, REFUSE = "once", "always", "refuse"
CONSENT, CONFIRM = "consent", "confirm"  # a dialog's mode: the first use of an origin, or one signature


@dataclass(frozen=True)
class DocumentFacts:
    """One document as the official sees it before consenting."""

    name: str
    sha256: str
    size: int
    pages: int | None = None
    repaired: bool = False  # damaged, and rewritten losslessly: ``sha256`` and ``size`` are the rewrite's


@dataclass(frozen=True)
class CertificateFacts:
    holder: str
    issuer: str
    serial: str
    not_before: str
    not_after: str
    sha256: str

    @classmethod
    def of(cls, certificate: x509.Certificate) -> CertificateFacts:
        subject, issuer = certificate.subject.native, certificate.issuer.native
        validity = certificate["tbs_certificate"]["validity"]
        return cls(
            holder=subject.get("common_name") or subject.get("organization_name") or "",
            issuer=issuer.get("common_name") or issuer.get("organization_name") or "",
            serial=format(certificate.serial_number, "x"),
            not_before=validity["not_before"].native.isoformat(),
            not_after=validity["not_after"].native.isoformat(),
            sha256=certificate.sha256.hex(),
        )


# said plainly in every dialog of the raw scope (bytes or a digest the page chose)
RAW_NOTICE = ("The content cannot be shown: the website sends data or a digest that this program cannot "
              "read, so you cannot see what you would sign. Allow it only if you trust this website.",
              "Không thể hiển thị nội dung sẽ ký: trang web gửi dữ liệu hoặc giá trị băm mà chương trình "
              "không đọc được, nên bạn không thể xem mình sẽ ký gì. Chỉ cho phép nếu bạn tin cậy trang web này.")


@dataclass(frozen=True)
class ConsentRequest:
    """Shown in the consent dialog: who asks, to do what, with which documents and certificate."""

    origin: str
    scope: str  # "sign" (documents the daemon parsed and hashed) or "raw" (bytes or a digest the page chose)
    operation: str  # "sign", "batch", "auth", "certificate" (scope sign); "raw", "hash" (scope raw)
    documents: tuple[DocumentFacts, ...] = ()
    certificate: CertificateFacts | None = None
    preview_png: bytes | None = field(default=None, repr=False)  # the block on its page (first document)
    pin_per_signature: bool | None = None  # the key asks the PIN for every signature (None: not known yet)
    reason: str | None = None  # what the page chose to write into the signature
    location: str | None = None
    mode: str = CONSENT  # CONFIRM: the origin may ask; the official says yes or no to this signature
    # nothing placed the block: the official places it in this dialog (its answer goes in ``placed``)
    placing: Placing | None = field(default=None, repr=False, compare=False)

    @property
    def notice(self) -> tuple[str, str] | None:
        """What the dialog must say about the content (English, Vietnamese)."""
        return RAW_NOTICE if self.scope == "raw" else None

    def as_message(self) -> dict:
        data = asdict(replace(self, placing=None))
        data["placing"] = self.placing.as_message() if self.placing else None
        data["preview_png"] = base64.b64encode(self.preview_png).decode() if self.preview_png else None
        data["notice_en"], data["notice_vi"] = self.notice or (None, None)
        return data


@dataclass(frozen=True)
class PinPurpose:
    """Who a PIN prompt is for: shown beside the token so the official knows which site asks."""

    origin: str  # a web origin, or the caller's name (api-token, cli)
    operation: str  # as in ConsentRequest


# Set by the signing service while a signature's login or signing runs: the driver asks for the
# PIN from a thread started in that context (asyncio.to_thread copies it), so each prompt names
# the request it is for, even with several origins and tokens at once.
PIN_PURPOSE: ContextVar[PinPurpose | None] = ContextVar("pin_purpose", default=None)


def pin_message(request: PinRequest, purpose: PinPurpose | None = None) -> dict:
    """A PIN prompt as the dialog shows it: the token, its flags and the warning they call for,
    and who asks for what."""
    warning = tries_warning(request.flags)
    return {
        "origin": purpose.origin if purpose else None,
        "operation": purpose.operation if purpose else None,
        "token_label": request.token_label,
        "token_serial": request.token_serial,
        "per_signature": request.per_signature,
        "pinpad": request.flags.protected_authentication_path,
        "count_low": request.flags.pin_count_low,
        "final_try": request.flags.pin_final_try,
        "warning_en": warning[0] if warning else None,
        "warning_vi": warning[1] if warning else None,
    }


@dataclass(frozen=True)
class PlugInRequest:
    """A signature waits for its token: the official is asked to plug it in."""

    origin: str  # a web origin, or the caller's name (api-token, cli)
    operation: str  # as in ConsentRequest
    wait_s: float  # how long the signature waits
    certificate: str | None = None  # the certificate the caller asked for (label or id), if it named one

    def as_message(self) -> dict:
        return asdict(self)


class PlugInAsker(Protocol):
    """Someone who can be told to plug the token in: the companion, the terminal, or a
    command's own terminal line."""

    @property
    def available(self) -> bool: ...

    async def plug_in(self, request: PlugInRequest) -> None:
        """Shown until cancelled (the token came, or the wait ended); returns when the
        official gives up waiting."""


class Asker(PlugInAsker, Protocol):
    """Someone who can answer: the companion or the terminal."""

    async def consent(self, request: ConsentRequest, timeout_s: float) -> str: ...

    async def pin(self, request: PinRequest, timeout_s: float, purpose: PinPurpose | None = None) -> Pin: ...

    async def pin_result(self, error: SignerError | None) -> None: ...

    async def authorise(self, request: AuthorisationRequest, timeout_s: float,
                        purpose: PinPurpose | None = None) -> Authorisation:
        """A remote credential's PIN and/or one-time code, typed by the official."""


class Prompts:
    """The daemon's way to ask: the companion when one is connected, else the terminal when
    the daemon runs interactively, else nobody."""

    def __init__(self, timeout_s: float, terminal: Asker | None = None, console: PlugInAsker | None = None) -> None:
        """``console``: a command's terminal, told only to plug the token in."""
        self.timeout_s = timeout_s
        self.companion: Asker | None = None  # set while a companion is connected
        self.terminal = terminal
        self.console = console

    @property
    def can_ask(self) -> bool:
        return self._asker() is not None

    @property
    def can_ask_plug_in(self) -> bool:
        return self._asker() is not None or self.console is not None

    async def plug_in(self, request: PlugInRequest) -> None:
        """Until cancelled; returns when the official gives up waiting."""
        asker: PlugInAsker | None = self._asker() or self.console
        if asker is None:
            raise SignerError(Code.TOKEN_NOT_PRESENT, "nobody is there to plug the token in",
                              vi="không có ai ở máy để cắm token")
        await asker.plug_in(request)

    def _asker(self) -> Asker | None:
        if self.companion is not None and self.companion.available:
            return self.companion
        return self.terminal

    async def consent(self, request: ConsentRequest) -> str:
        asker = self._asker()
        if asker is None:
            raise SignerError(Code.CONSENT_DENIED, "no desktop companion is running to ask the official "
                                                "(start `signer tray`, or `signer origins grant`)",
                              vi=("không có ứng dụng khay đang chạy để hỏi người dùng "
                                  "(hãy chạy `signer tray`, hoặc `signer origins grant`)"))
        return await asker.consent(request, self.timeout_s)

    async def pin(self, request: PinRequest, purpose: PinPurpose | None = None) -> Pin:
        asker = self._asker()
        if asker is None:
            raise _nobody()
        return await asker.pin(request, self.timeout_s, purpose)

    async def pin_result(self, error: SignerError | None) -> None:
        for asker in (self.companion, self.terminal):
            if asker is not None and asker.available:
                await asker.pin_result(error)
                return

    async def authorise(self, request: AuthorisationRequest) -> Authorisation:
        """The remote credential's ``Authoriser`` in the daemon: the companion, else the terminal."""
        asker = self._asker()
        if asker is None:
            raise SignerError(Code.PIN_UNAVAILABLE,
                              f"{request.service}: no desktop companion is running to ask for the PIN or one-time "
                              "code (start `signer tray`)",
                              vi=f"{request.service}: không có ứng dụng khay đang chạy để hỏi mã PIN hoặc mã OTP "
                                 "(hãy chạy `signer tray`)")
        return await asker.authorise(request, self.timeout_s, PIN_PURPOSE.get())


def authorisation_message(request: AuthorisationRequest, purpose: PinPurpose | None = None) -> dict:
    """A remote credential's authorisation as the dialog shows it (nothing secret in it)."""
    return {"origin": purpose.origin if purpose else None, "operation": purpose.operation if purpose else None,
            **asdict(request)}


class PromptPinSource:
    """The token driver's PIN source for the daemon: the driver asks from a worker-side
    thread; the question goes to the event loop's prompts and the answer comes back. A
    pinpad token is asked too: the dialog tells the official to use the reader's keypad."""

    handles_pinpad = True

    def __init__(self, prompts: Prompts) -> None:
        self.prompts = prompts
        self.loop: asyncio.AbstractEventLoop | None = None  # the daemon's loop, set when it starts

    def pin_for(self, request: PinRequest) -> Pin:
        if self.loop is None or not self.loop.is_running():
            raise _nobody()
        purpose = PIN_PURPOSE.get()  # read on the asking thread: the context of the signature it is for
        return asyncio.run_coroutine_threadsafe(self.prompts.pin(request, purpose), self.loop).result()


def _nobody() -> Exception:
    return pin_refused("PIN_UNAVAILABLE", "no desktop companion is running to ask for the PIN (start `signer tray`)",
                       "không có ứng dụng khay đang chạy để hỏi mã PIN (hãy chạy `signer tray`)")

