"""What a dialog page may call: the one object a dialog window is given (pywebview's
``js_api``; any other host binds the same methods as ``window.tray_<name>``).

A dialog shows ``state()`` and answers through the other methods. Names starting with an
underscore are not offered to the page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from .channel import ChannelError, DaemonRefused

# the methods the dialogs' scripts call (pywebview exposes them as window.pywebview.api.*)
METHODS = ("state", "answer", "page", "submit_pin", "submit_authorisation", "cancel", "cancel_batch", "revoke",
           "tokens", "language", "dismissed", "done", "enrol_tokens", "enroll_request", "save_request", "enroll_import")
DECISIONS = ("once", "always", "refuse")


class Windows(Protocol):
    """Where the bridge's window closes, and asks where to save a file."""

    def close(self, bridge: DialogBridge) -> None: ...

    def save_file(self, bridge: DialogBridge, name: str, data: bytes) -> str | None:
        """``data`` written where the official chose, starting from ``name``; the path (None: cancelled)."""


class Core(Protocol):
    """What a bridge needs of the companion (``tray.core.TrayCore``); named here so that this
    module does not import the core, which imports it."""

    language: str

    @property
    def dialogs(self) -> Windows: ...

    def answer(self, prompt_id: str, **fields: Any) -> None: ...

    def cancel_batch(self, batch_id: str) -> None: ...

    def batch_view(self, batch_id: str) -> dict[str, Any]: ...

    def settings(self) -> dict[str, Any]: ...

    def connected_tokens(self) -> list[dict[str, Any]]: ...

    def revoke(self, origin: str) -> bool: ...

    def page(self, prompt_id: str, number: int) -> dict[str, Any] | None: ...

    def enrol_tokens(self) -> list[dict[str, Any]]: ...

    def enroll_request(self, token: str, key: str, label: str, subject: dict[str, str]) -> dict[str, Any]: ...

    def enroll_import(self, token: str, name: str, certificate: str, chain: list[dict[str, str]]) -> dict[str, Any]: ...


class DialogBridge:
    def __init__(self, core: Core, kind: str, data: dict[str, Any] | None = None) -> None:
        self._core = core
        self._kind = kind  # consent, pin, authorise, plug_in, progress, settings
        self._data = data or {}
        self._lock = threading.Lock()
        self._answered = False
        self._result: dict[str, Any] | None = None  # the PIN's outcome, from the daemon
        self._closed: str | None = None  # why the daemon closed the prompt (timeout; a plug-in's "done")
        self._requests: dict[str, str] = {}  # the settings window's certificate requests (PEM), by token serial

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def confirming(self) -> bool:
        """A consent dialog in "confirm" mode: sign or refuse this one request."""
        return self._kind == "consent" and self._data.get("mode") == "confirm"

    @property
    def prompt_id(self) -> str | None:
        return self._data.get("id")

    # -- called by the page ----------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self._lock:
            if self._kind == "progress":
                data = self._core.batch_view(self._data["batch"])
            elif self._kind == "settings":
                data = self._core.settings()
            else:
                data = dict(self._data)
            return {"kind": self._kind, "data": data, "answered": self._answered, "result": self._result,
                    "closed": self._closed, "language": self._core.language}

    @property
    def placing(self) -> bool:
        """The official places the signature block in this dialog."""
        return self._kind == "consent" and bool(self._data.get("placing"))

    def answer(self, decision: str, placement: dict[str, Any] | None = None) -> bool:
        """A confirmation ("confirm" mode) is yes or no for one request: "always" is not an answer.
        Where the official places the block, a yes carries ``placement`` ({"page", "rect"})."""
        if self._kind != "consent" or decision not in DECISIONS:
            return False
        placed = self.placing and decision != "refuse"
        if placed and not isinstance(placement, dict):
            return False
        if not self._claim_decision(decision):
            return False
        fields: dict[str, Any] = {"decision": decision}
        if placed and placement is not None:
            fields["placement"] = {"page": placement.get("page"), "rect": placement.get("rect")}
        self._core.answer(self._data["id"], **fields)
        return True

    def page(self, number: int) -> dict[str, Any] | None:
        """A page of the document whose block is placed here (its image, visible box, page count)."""
        if not self.placing or self._answered or self._closed:
            return None
        return self._core.page(self._data["id"], number)

    def submit_pin(self, pin: str) -> bool:
        """The PIN goes to the daemon at once and is not kept here."""
        if self._kind != "pin" or not isinstance(pin, str) or not self._claim():
            return False
        self._core.answer(self._data["id"], pin=pin)
        del pin
        return True

    def submit_authorisation(self, pin: str | None = None, otp: str | None = None) -> bool:
        """A remote credential's PIN and/or one-time code, to the daemon at once, not kept here."""
        if self._kind != "authorise" or not all(isinstance(v, str | None) for v in (pin, otp)) or not self._claim():
            return False
        self._core.answer(self._data["id"], pin=pin if self._data.get("pin") else None,
                          otp=otp if self._data.get("otp") else None)
        del pin, otp
        return True

    def cancel(self) -> bool:
        """A PIN dialog's Cancel; a plug-in dialog's "stop waiting"; a consent's refusal."""
        if self._kind in ("pin", "authorise", "plug_in") and self._claim():
            self._core.answer(self._data["id"], cancel=True)
            return True
        if self._kind == "consent":
            return self.answer("refuse")
        return False

    def cancel_batch(self) -> bool:
        if self._kind != "progress":
            return False
        self._core.cancel_batch(self._data["batch"])
        return True

    def revoke(self, origin: str) -> bool:
        return self._kind == "settings" and bool(self._core.revoke(str(origin)))

    def tokens(self) -> list[dict[str, Any]]:
        """The tokens plugged in now, for the settings window's live list."""
        return self._core.connected_tokens() if self._kind == "settings" else []

    def enrol_tokens(self) -> list[dict[str, Any]]:
        """The tokens the settings window offers to enrol a certificate on."""
        return self._core.enrol_tokens() if self._kind == "settings" else []

    def enroll_request(self, token: str, form: dict[str, Any]) -> dict[str, Any]:
        """A key pair on ``token`` and its request, from the settings window's form (key, label and
        the subject's fields); the daemon asks the PIN in its own dialog."""
        if self._kind != "settings" or not isinstance(form, dict):
            return dict(_NOT_HERE)
        subject = {name: str(form.get(name) or "") for name in SUBJECT}
        made = _asked(lambda: self._core.enroll_request(str(token), str(form.get("key", "")),
                                                        str(form.get("label", "")), subject))
        if "pem" in made:
            self._requests[str(token)] = made["pem"]
        return made

    def save_request(self, token: str) -> dict[str, Any]:
        """The request made last for ``token``, saved where the official chooses."""
        pem = self._requests.get(str(token))
        if self._kind != "settings" or pem is None:
            return dict(_NOT_HERE)
        try:
            return {"saved": self._core.dialogs.save_file(self, "yeu-cau-chung-thu.pem", pem.encode("ascii"))}
        except OSError as exc:
            return {"error": "OUTPUT_FAILED", "message_en": f"The file cannot be written: {exc.strerror}",
                    "message_vi": f"Không ghi được tệp: {exc.strerror}"}

    def enroll_import(self, token: str, files: list[dict[str, Any]]) -> dict[str, Any]:
        """The certificate the official chose (the first file, perhaps a bundle with its chain; then
        chain files), each ``{"name", "data"}`` with data the file's bytes in base64."""
        if self._kind != "settings" or not isinstance(files, list) or not files:
            return dict(_NOT_HERE)
        given = [{"name": str(f.get("name", "")), "data": str(f.get("data", ""))} for f in files if isinstance(f, dict)]
        first, *chain = given or [{"name": "", "data": ""}]
        return _asked(lambda: self._core.enroll_import(str(token), first["name"], first["data"], chain))

    def language(self, code: str) -> str:
        self._core.language = code if code in ("vi", "en") else "vi"
        return self._core.language

    def dismissed(self) -> None:
        """The window was closed: an unanswered consent is a refusal, a PIN a cancellation, and
        the official stopped waiting for the token."""
        if self._kind in ("consent", "pin", "authorise", "plug_in"):
            self.cancel()

    def done(self) -> None:
        """The page is finished with: close its window."""
        self._core.dialogs.close(self)

    # -- called by the companion ---------------------------------------------------

    def _claim_decision(self, decision: str) -> bool:
        if decision == "always" and self.confirming:
            return False
        return self._claim()

    def _claim(self) -> bool:
        with self._lock:
            if self._answered or self._closed:
                return False
            self._answered = True
            return True

    def _set_result(self, result: dict[str, Any]) -> None:
        with self._lock:
            self._result = result

    def _close(self, reason: str) -> None:
        with self._lock:
            self._closed = reason


SUBJECT = ("cn", "title", "o", "ou", "l", "st", "email", "uid")  # the enrolment form's subject fields
_NOT_HERE = {"error": "BAD_REQUEST", "message_en": "not offered in this window",
             "message_vi": "cửa sổ này không có chức năng đó"}


def _asked(ask: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The daemon's answer, or why there is none, in both languages for the page."""
    try:
        return ask()
    except DaemonRefused as refused:
        return {"error": refused.code, "message_en": refused.message_en, "message_vi": refused.message_vi}
    except (ChannelError, TimeoutError):
        return {"error": "DISCONNECTED", "message_en": "The signing service cannot be reached.",
                "message_vi": "Không kết nối được dịch vụ ký số."}
