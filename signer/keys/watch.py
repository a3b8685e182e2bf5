"""Tokens arriving and leaving, brought into the event loop.

The drivers' watchers (PC/SC readers and cards, USB devices of the catalogue, each PKCS#11
module's slots) run on their own threads; their one debounced stream is handed to the loop
here, where listeners (the page's event stream, the companion, the audit trail) and requests
waiting for a token take it. A watcher whose library or service is missing is left out and
named in ``unavailable``; the others run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from drivers.modules import model_for_module
from drivers.watchers import EventStream, TokenEvent, Watcher

from ..logs import get_logger
from .store import KeyStore

log = get_logger(__name__)

ARRIVED, LEFT = "arrived", "left"
LISTENER_QUEUE = 64  # a listener that falls this far behind loses the oldest changes, not the daemon's memory


@dataclass(frozen=True)
class TokenChange:
    """A token (a card in a reader, a USB device, a token in a PKCS#11 slot) arrived or left.
    What any allowed page may learn: no certificate, no holder."""

    kind: str  # ARRIVED or LEFT
    source: str  # "pcsc", "usb" or "pkcs11"
    key: str  # the same for an arrival and its removal
    reader: str | None
    usb_id: str | None  # "096e:0807"
    atr: str | None  # "3B:95:13:..."
    slot: int | None
    label: str | None  # the token's label (PKCS#11)
    model: str | None  # the catalogue's "vendor model", when it knows the device
    module: str | None  # the PKCS#11 module for it on this OS
    module_installed: bool
    install: str | None  # what to install when the module is not here
    at: float  # time.time() when the change settled
    initial: bool  # there when the watchers started, not plugged in since

    @classmethod
    def of(cls, event: TokenEvent) -> TokenChange:
        model = event.model
        return cls(kind=event.kind, source=event.source, key=event.key, reader=event.reader, usb_id=event.usb_id,
                   atr=event.atr, slot=event.slot, label=event.label, model=model.name if model else None,
                   module=event.module, module_installed=event.module_installed,
                   install=(model.install or None) if model and not event.module_installed else None, at=event.at,
                   initial=event.initial)

    @property
    def name(self) -> str:
        """What the official would call it: the token's own label first (its model is often only
        the maker's), then the catalogue's model, the reader, the USB id."""
        return self.label or self.model or self.reader or self.usb_id or self.source

    def as_message(self) -> dict:
        return {"kind": self.kind, "source": self.source, "name": self.name, "reader": self.reader,
                "usb_id": self.usb_id, "atr": self.atr, "slot": self.slot, "label": self.label,
                "model": self.model, "module": self.module, "module_installed": self.module_installed,
                "install": self.install, "at": self.at, "initial": self.initial}

    def as_audit(self) -> dict:
        skipped = ("kind", "at", "name", "initial")
        return {k: v for k, v in self.as_message().items() if v is not None and k not in skipped}


class TokenWatch:
    """The watchers over ``keys``' modules (and PC/SC and USB, as ``watch`` names), started on
    the running loop; each change goes to every listener, and to requests waiting for a token."""

    def __init__(self, keys: KeyStore, watch: tuple[str, ...], poll_s: float) -> None:
        self.keys = keys
        self.watch = watch
        self.poll_s = poll_s
        self.unavailable: dict[str, str] = {}  # watcher -> why it does not run
        self._stream: EventStream | None = None
        self._listeners: set[asyncio.Queue[TokenChange]] = set()
        self._connected: dict[tuple[str, str], TokenChange] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ended = asyncio.Event()  # set when the watchers stop: the event streams end

    @property
    def running(self) -> bool:
        return self._stream is not None

    def start(self) -> None:
        """Start the watchers (on the running loop; once)."""
        if self._stream is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stream = EventStream(self._watchers(), deliver=self._from_thread)
        self.unavailable.update(self._stream.start())
        log.info("token_watch_started", watchers=[w.name for w in self._stream.watchers],
                 unavailable=self.unavailable)

    async def stop(self) -> None:
        self.ended.set()
        await asyncio.to_thread(self.close)

    def watching(self) -> list[str]:
        """The watchers running."""
        return sorted({w.name for w in self._stream.watchers}) if self._stream else []

    def close(self) -> None:
        """Stop the watchers and join their threads (before the modules they poll are released)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()

    def connected(self) -> list[TokenChange]:
        """What is plugged in now, as the watchers last saw it."""
        return sorted(self._connected.values(), key=lambda c: c.at)

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[TokenChange]]:
        """A queue of the changes from now on, while the block runs."""
        changes: asyncio.Queue[TokenChange] = asyncio.Queue(LISTENER_QUEUE)
        self._listeners.add(changes)
        try:
            yield changes
        finally:
            self._listeners.discard(changes)

    def _watchers(self) -> list[Watcher]:
        watchers: list[Watcher] = []
        for name in self.watch:
            try:
                watchers.extend(_MAKERS[name](self))
            except Exception as exc:  # an optional library missing, a service or netlink refused
                self.unavailable[name] = f"{type(exc).__name__}: {exc}"
        return watchers

    def _from_thread(self, event: TokenEvent) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with suppress(RuntimeError):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(self._publish, TokenChange.of(event))

    def _publish(self, change: TokenChange) -> None:
        if change.kind == ARRIVED:
            self._connected[(change.source, change.key)] = change
        else:
            self._connected.pop((change.source, change.key), None)
        for changes in self._listeners:
            if changes.full():
                changes.get_nowait()
            changes.put_nowait(change)


def _pcsc(watch: TokenWatch) -> list[Watcher]:
    from drivers.watchers.pcsc import PcscWatcher

    return [PcscWatcher(relist_s=watch.poll_s)]


def _usb(watch: TokenWatch) -> list[Watcher]:
    from drivers.watchers.usb import usb_watcher

    return [usb_watcher()]


def _pkcs11(watch: TokenWatch) -> list[Watcher]:
    from drivers.watchers.pkcs11 import Pkcs11Watcher

    watchers: list[Watcher] = []
    for module in watch.keys.modules:
        model = model_for_module(module.path)
        watchers.append(Pkcs11Watcher(module, interval_s=watch.poll_s,
                                      reinitialise=bool(model and model.restart_to_see_tokens)))
    return watchers


_MAKERS: dict[str, Callable[[TokenWatch], list[Watcher]]] = {"pcsc": _pcsc, "usb": _usb, "pkcs11": _pkcs11}
WATCHERS = tuple(_MAKERS)
