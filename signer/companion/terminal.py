"""``signer serve --interactive``: consent, PIN and a remote credential's authorisation asked on
the daemon's own terminal; a signing command's terminal (the token plugged in, the remote
credential's PIN and one-time code)."""

from __future__ import annotations

import asyncio
import getpass
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from ..errors import Code, SignerError
from ..keys.pins import PINPAD, Pin, PinRequest, TerminalPinSource, has_terminal
from ..keys.remote import Authorisation, AuthorisationRequest
from ..service.placing import Placing
from ..service.prompts import ALWAYS, CONFIRM, ONCE, REFUSE, ConsentRequest, PinPurpose, PlugInRequest
from ..service.repaired import NOTE_EN as REPAIRED_EN
from ..service.repaired import NOTE_VI as REPAIRED_VI

CHOICES = {"1": ONCE, "2": ALWAYS, "3": REFUSE}
CONFIRM_CHOICES = {"1": ONCE, "2": REFUSE}  # a confirmation is yes or no for this signature: never remembered


class TerminalPlugIn:
    """A command's terminal: one line asking for the token, shown while the signature waits
    (Ctrl+C ends the command)."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self._out = out

    @property
    def available(self) -> bool:
        return True

    async def plug_in(self, request: PlugInRequest) -> None:
        wanted = f" ('{request.certificate}')" if request.certificate else ""
        print(f"Hãy cắm USB token{wanted}; đang chờ tối đa {request.wait_s:g} giây (Ctrl+C để huỷ) / "
              f"Plug in the USB token{wanted}; waiting up to {request.wait_s:g} s (Ctrl+C to stop)",
              file=self._out, flush=True)
        await asyncio.Event().wait()  # until the token comes or the wait ends: the caller cancels


def terminal_plug_in() -> TerminalPlugIn | None:
    """For a command run by someone at a terminal; None when nobody is there (a script, CI)."""
    return TerminalPlugIn() if sys.stdin.isatty() and sys.stderr.isatty() else None


class TerminalAuthoriser:
    """A remote credential's PIN and one-time code typed at the terminal, echo off: a signing
    command's ``Authoriser``."""

    def __init__(self, read: Callable[[str], str] = getpass.getpass, out: TextIO = sys.stderr,
                 interactive: Callable[[], bool] = has_terminal) -> None:
        self._read = read
        self._out = out
        self._interactive = interactive

    async def authorise(self, request: AuthorisationRequest) -> Authorisation:
        return await asyncio.to_thread(self.ask, request)

    def ask(self, request: AuthorisationRequest) -> Authorisation:
        if not self._interactive():
            raise SignerError(Code.PIN_UNAVAILABLE,
                              f"{request.service}: no terminal to ask for the PIN or one-time code",
                              vi=f"{request.service}: không có cửa sổ dòng lệnh để hỏi mã PIN hoặc mã OTP")
        print(f"Dịch vụ ký số / Signing service: {request.service}\n"
              f"Chứng thư số / Certificate: {request.holder} ({request.credential}), "
              f"{request.signatures} chữ ký / signature(s)", file=self._out, flush=True)
        if request.otp_sent:
            print("Dịch vụ vừa gửi mã OTP cho bạn / The service has just sent you a one-time code",
                  file=self._out, flush=True)
        if request.otp_description:
            print(request.otp_description, file=self._out, flush=True)
        try:
            pin = self._read(_asked("Mã PIN", "PIN", request.pin_label)) if request.pin else None
            otp = self._read(_asked("Mã OTP", "One-time code", request.otp_label)) if request.otp else None
        except (EOFError, KeyboardInterrupt):
            raise SignerError(Code.USER_CANCELLED, f"{request.service}: PIN / one-time code entry cancelled",
                              vi=f"{request.service}: đã hủy nhập mã PIN / mã OTP") from None
        if (request.pin and not pin) or (request.otp and not otp):
            raise SignerError(Code.USER_CANCELLED, f"{request.service}: no PIN or one-time code typed",
                              vi=f"{request.service}: chưa nhập mã PIN hoặc mã OTP")
        return Authorisation(pin=pin, otp=otp)


def _asked(vi: str, en: str, label: str) -> str:
    return f"{vi} / {en}{f' ({label})' if label else ''}: "


class TerminalAsker:
    def __init__(self, read: Callable[[str], str] = input, out: TextIO = sys.stderr,
                 pins: TerminalPinSource | None = None, authoriser: TerminalAuthoriser | None = None) -> None:
        self._read = read
        self._out = out
        self._pins = pins or TerminalPinSource(out=out)
        self._authoriser = authoriser or TerminalAuthoriser(out=out)
        self._one_at_a_time = threading.Lock()

    @property
    def available(self) -> bool:
        return True

    async def consent(self, request: ConsentRequest, timeout_s: float) -> str:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._ask_consent, request), timeout_s)
        except TimeoutError:
            print("Hết thời gian: từ chối / No answer in time: refused", file=self._out)
            return REFUSE

    async def pin(self, request: PinRequest, timeout_s: float, purpose: PinPurpose | None = None) -> Pin:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._ask_pin, request, purpose), timeout_s)
        except TimeoutError:
            raise SignerError(Code.USER_CANCELLED, "no PIN typed in time") from None

    async def authorise(self, request: AuthorisationRequest, timeout_s: float,
                        purpose: PinPurpose | None = None) -> Authorisation:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._ask_authorisation, request, purpose), timeout_s)
        except TimeoutError:
            raise SignerError(Code.USER_CANCELLED, f"{request.service}: no PIN or one-time code typed in time",
                              vi=f"{request.service}: không nhập mã PIN hoặc mã OTP kịp thời gian") from None

    async def plug_in(self, request: PlugInRequest) -> None:
        await TerminalPlugIn(self._out).plug_in(request)

    async def pin_result(self, error: SignerError | None) -> None:
        if error is not None:
            print(f"{error.message_vi} / {error.message_en}", file=self._out)

    def _ask_consent(self, request: ConsentRequest) -> str:
        with self._one_at_a_time:
            lines = ["Xác nhận ký / Confirm this signature"] if request.mode == CONFIRM else []
            lines += [f"Trang web / Website: {request.origin}", f"Thao tác / Operation: {request.operation}"]
            if request.notice:
                lines += [f"!! {request.notice[1]}", f"!! {request.notice[0]}"]
            for doc in request.documents:
                pages = f", {doc.pages} trang/pages" if doc.pages is not None else ""
                lines.append(f"  - {doc.name}{pages}, SHA-256 {doc.sha256}")
                if doc.repaired:
                    lines.append(f"    {REPAIRED_VI} / {REPAIRED_EN}")
            if request.certificate:
                c = request.certificate
                lines.append(f"Chứng thư số / Certificate: {c.holder} ({c.issuer}), {c.not_before[:10]} - "
                             f"{c.not_after[:10]}")
            if request.reason:
                lines.append(f"Lý do / Reason: {request.reason}")
            if request.location:
                lines.append(f"Địa điểm / Location: {request.location}")
            if request.pin_per_signature:
                lines.append("Khóa này yêu cầu nhập PIN cho từng chữ ký / This key asks for the PIN for each signature")
            print("\n".join(lines), file=self._out)
            if request.placing is not None and not self._place(request.placing):
                print("Chưa đặt vị trí chữ ký: từ chối / The block was not placed: refused", file=self._out)
                return REFUSE
            if request.mode == CONFIRM:
                return CONFIRM_CHOICES.get(self._read("[1] Ký / Sign  [2] Từ chối / Refuse: ").strip(), REFUSE)
            answer = self._read("[1] Cho phép lần này / Allow once  [2] Luôn cho phép / Always allow  "
                                "[3] Từ chối / Refuse: ").strip()
            return CHOICES.get(answer, REFUSE)

    def _place(self, placing: Placing) -> bool:
        """No page to drag on here: the page and the block's lower left corner are typed."""
        width, height = placing.block
        print(f"Không tìm thấy vị trí chữ ký trong tài liệu ({placing.pages} trang), khối chữ ký "
              f"{width:g} x {height:g} điểm / No place for the signature was found ({placing.pages} pages); "
              f"the block is {width:g} x {height:g} points", file=self._out)
        try:
            page = int(self._read(f"Trang / Page [1-{placing.pages}]: ").strip())
            corner = self._read("Góc dưới bên trái x,y (điểm, tính từ góc dưới bên trái trang) / "
                                "Lower left corner x,y (points from the page's lower left): ")
            x, y = (float(v) for v in corner.split(","))
        except ValueError:
            return False
        return placing.answer({"page": page, "rect": [x, y, x + width, y + height]})

    def _ask_authorisation(self, request: AuthorisationRequest, purpose: PinPurpose | None) -> Authorisation:
        with self._one_at_a_time:
            if purpose is not None:
                print(f"Trang web / Website: {purpose.origin}  Thao tác / Operation: {purpose.operation}",
                      file=self._out)
            return self._authoriser.ask(request)

    def _ask_pin(self, request: PinRequest, purpose: PinPurpose | None) -> Pin:
        with self._one_at_a_time:
            if purpose is not None:
                print(f"Trang web / Website: {purpose.origin}  Thao tác / Operation: {purpose.operation}",
                      file=self._out)
            if request.flags.protected_authentication_path:
                print(f"Nhập PIN trên bàn phím của đầu đọc thẻ / Type the PIN on the reader's keypad "
                      f"('{request.token_label}')", file=self._out)
                return PINPAD
            return self._pins.pin_for(request)  # its errors are the driver's: no terminal, cancelled
