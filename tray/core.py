"""The companion without its windows: connected to the daemon, it turns the daemon's
prompts and batch progress into dialogs, and carries the answers back.

It runs its own event loop on a thread; the windows (pywebview, or a test's browser)
live wherever their toolkit wants them and call in through ``DialogBridge``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .bridge import DialogBridge
from .channel import ChannelError, DaemonChannel
from .notices import Notice, TokenList, token_notice

T = TypeVar("T")
CALL_TIMEOUT_S = 30
ENROL_TIMEOUT_S = 600  # the official types the PIN, then the token makes a key pair (RSA 3072: a while)
NOTICES_KEPT = 20


class Dialogs(Protocol):
    """Where dialog windows open, and ask where to save a file."""

    def open(self, bridge: DialogBridge) -> None: ...

    def close(self, bridge: DialogBridge) -> None: ...

    def save_file(self, bridge: DialogBridge, name: str, data: bytes) -> str | None: ...


class TrayCore:
    def __init__(self, state_dir: Path, dialogs: Dialogs) -> None:
        self.channel = DaemonChannel(state_dir)
        self.dialogs = dialogs
        self.language = "vi"
        self.connected = threading.Event()
        self.stopped = threading.Event()
        self.error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._prompts: dict[str, DialogBridge] = {}
        self._batches: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        # tokens plugged in and pulled out: the last notifications, and where they show (the tray icon's)
        self.notifications: deque[Notice] = deque(maxlen=NOTICES_KEPT)
        self.notify: Callable[[Notice], None] | None = None
        self._tokens = TokenList()
        self._tokens_loaded = False
        self._since_snapshot: list[dict[str, Any]] | None = None  # changes while the daemon's list is asked for
        self._loading: asyncio.Lock | None = None

    # -- running ---------------------------------------------------------------------

    def start(self) -> None:
        """Connect on a thread of its own; ``connected`` or ``stopped`` (with ``error``) tells how it went."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="tray-channel", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._loop is not None and not self.stopped.is_set():
            asyncio.run_coroutine_threadsafe(self.channel.close(), self._loop)
        if self._thread is not None:
            self._thread.join(10)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loading = asyncio.Lock()
        try:
            await self.channel.connect()
            self.connected.set()
            await self.channel.run(self._handle)
        except ChannelError as exc:
            self.error = str(exc)
        finally:
            await self.channel.close()
            for bridge in list(self._prompts.values()):  # the daemon is gone: nobody waits for them
                bridge._close("disconnected")
            self.stopped.set()

    def _call(self, work: Coroutine[Any, Any, T], timeout_s: float = CALL_TIMEOUT_S) -> T:
        if self._loop is None or self.stopped.is_set():
            work.close()
            raise ChannelError("not connected to the signing daemon")
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout_s)

    # -- from the daemon ---------------------------------------------------------------

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "prompt":
            bridge = DialogBridge(self, message["kind"], message)
            self._prompts[message["id"]] = bridge
            self.dialogs.open(bridge)
        elif kind == "closed":
            closing = self._take_prompt(str(message.get("id")))
            if closing is not None:
                closing._close(str(message.get("reason", "closed")))
                self.dialogs.close(closing)
        elif kind == "pin_result":
            answered = self._take_prompt(str(message.get("id")))
            if answered is not None:
                answered._set_result(message)
        elif kind == "batch":
            self._batch_event(message)
        elif kind == "token":
            self._token_event(message)

    def _take_prompt(self, prompt_id: str) -> DialogBridge | None:
        """The open dialog of a prompt, no longer open (None: none was)."""
        return self._prompts.pop(prompt_id) if prompt_id in self._prompts else None

    def _token_event(self, token: dict[str, Any]) -> None:
        with self._lock:
            self._tokens.apply(token)
            if self._since_snapshot is not None:
                self._since_snapshot.append(token)
        if token.get("initial"):  # there when the daemon started: nothing was plugged in
            return
        notice = token_notice(token, self.language)
        self.notifications.append(notice)
        if self.notify is not None:
            try:
                self.notify(notice)
            except Exception:  # noqa: BLE001 - a desktop without notifications still has the list
                logging.getLogger(__name__).warning("token_notification_failed", exc_info=True)

    async def _load_tokens(self) -> None:
        """The daemon's list of what is plugged in, once; changes that cross the question are
        applied again over it (each is idempotent), so none is lost or undone."""
        assert self._loading is not None
        async with self._loading:
            if self._tokens_loaded:
                return
            self._since_snapshot = []
            try:
                status = await self.channel.request("status")
            finally:
                crossing, self._since_snapshot = self._since_snapshot, None
            with self._lock:
                self._tokens.replace(list(status.get("connected", [])))
                for token in crossing:
                    self._tokens.apply(token)
                self._tokens_loaded = True

    def _batch_event(self, event: dict[str, Any]) -> None:
        batch_id = str(event.get("batch"))
        with self._lock:
            view = self._batches.get(batch_id)
            opened = view is None
            if view is None:
                view = self._batches[batch_id] = {"batch": batch_id, "origin": event.get("origin"), "items": {},
                                                  "state": "running", "total": 0, "done": 0, "failed": 0}
            if event.get("event") == "item":
                view["items"][event["index"]] = {"index": event["index"], "name": event.get("name"),
                                                 "state": event.get("state"), "error": event.get("error")}
            else:
                view.update({k: event[k] for k in ("state", "total", "done", "failed") if k in event})
                for index, name in enumerate(event.get("names", ())):
                    view["items"].setdefault(index, {"index": index, "name": name, "state": "pending", "error": None})
        if opened and event.get("event") == "batch" and event.get("state") == "running":
            self.dialogs.open(DialogBridge(self, "progress", {"batch": batch_id}))

    # -- for the dialogs and the menu --------------------------------------------------

    def answer(self, prompt_id: str, **fields: Any) -> None:
        bridge = self._prompts.get(prompt_id)
        if bridge is not None and (bridge.kind in ("consent", "authorise") or fields.get("cancel")):
            self._prompts.pop(prompt_id, None)  # a PIN's stays until its outcome arrives
        self._call(self.channel.answer(prompt_id, **fields))

    def cancel_batch(self, batch_id: str) -> None:
        self._call(self.channel.cancel_batch(batch_id))

    def batch_view(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            view = dict(self._batches.get(batch_id, {"batch": batch_id, "items": {}}))
            view["items"] = [view["items"][k] for k in sorted(view["items"])]
            done = sum(1 for i in view["items"] if i["state"] == "signed")
            view["done"] = max(view.get("done", 0), done)
            return view

    def connected_tokens(self) -> list[dict[str, Any]]:
        """The tokens plugged in now (the daemon's messages about each)."""
        if not self._tokens_loaded:
            self._call(self._load_tokens())
        with self._lock:
            return self._tokens.now()

    def settings(self) -> dict[str, Any]:
        return self._call(self.channel.request("settings"))

    def status(self) -> dict[str, Any]:
        return self._call(self.channel.request("status"))

    def activity(self) -> list[dict[str, Any]]:
        return self._call(self.channel.request("activity"))

    def page(self, prompt_id: str, number: int) -> dict[str, Any] | None:
        """A page of an open placement question (None: the question is gone, or the page cannot be shown)."""
        try:
            data: dict[str, Any] = self._call(self.channel.request("page", prompt=prompt_id, page=number))
        except (ChannelError, TimeoutError):
            return None
        return data

    def revoke(self, origin: str) -> bool:
        return bool(self._call(self.channel.request("revoke", origin=origin))["revoked"])

    def enrol_tokens(self) -> list[dict[str, Any]]:
        """The initialised tokens a certificate can be enrolled on (label, serial, PIN flags)."""
        return list(self.status().get("tokens", []))

    def enroll_request(self, token: str, key: str, label: str, subject: dict[str, str]) -> dict[str, Any]:
        """A key pair made on the token and its request (PEM); DaemonRefused says why not."""
        return self._enrol("enroll_request", token=token, key=key, label=label, subject=subject)

    def enroll_import(self, token: str, name: str, certificate: str, chain: list[dict[str, str]]) -> dict[str, Any]:
        """The issued certificate (a file's bytes, base64) and its chain loaded next to its key."""
        return self._enrol("enroll_import", token=token, name=name, certificate=certificate, chain=chain)

    def _enrol(self, what: str, **fields: Any) -> dict[str, Any]:
        # the daemon's PIN dialog opens meanwhile: the wait is the official's
        reply: dict[str, Any] = self._call(self.channel.request(what, wait_s=ENROL_TIMEOUT_S, **fields),
                                           ENROL_TIMEOUT_S)
        return reply
