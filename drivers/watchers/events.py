"""One debounced stream of token arrivals and removals out of several watchers."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from ..catalog import TokenModel, current_os, model_for_atr, model_for_usb
from ..modules import installed_modules, model_for_module

Kind = Literal["arrived", "left"]
Source = Literal["pcsc", "usb", "pkcs11"]


@dataclass(frozen=True)
class Observation:
    """What one watcher saw, before debouncing. ``key`` names the thing seen (a reader,
    a USB device, a slot) so that its arrival and its removal pair up."""

    kind: Kind
    source: Source
    key: str
    reader: str | None = None
    usb_id: tuple[int, int] | None = None
    slot: int | None = None
    atr: bytes | None = None
    label: str | None = None
    initial: bool = False  # seen by the watcher's first look: there before it started, not just plugged in
    module: str | None = None  # the PKCS#11 module whose slot it is in (a PKCS#11 watcher's observation)


@dataclass(frozen=True)
class TokenEvent:
    kind: Kind
    source: Source
    key: str  # the observation's key: an arrival and its removal share it
    reader: str | None
    usb_id: str | None  # "096e:0807"
    slot: int | None
    atr: str | None  # "3B:95:..."
    label: str | None
    model: TokenModel | None  # the catalogue's entry, when one matches
    module: str | None  # the model's module for this OS: installed here, else its first name
    module_installed: bool
    at: float = field(compare=False)
    initial: bool = False  # there when the watcher started  # time.time() when the change settled


class Watcher(Protocol):
    name: str

    def start(self, emit: Callable[[Observation], None]) -> None: ...

    def stop(self) -> None: ...


def _hex_atr(atr: bytes) -> str:
    return ":".join(f"{b:02X}" for b in atr)


def _model_for(obs: Observation) -> TokenModel | None:
    found = model_for_atr(obs.atr) if obs.atr else None
    if found is None and obs.usb_id:
        found = model_for_usb(*obs.usb_id)
    return found


def _module_for(model: TokenModel | None) -> tuple[str | None, bool]:
    if model is None:
        return None, False
    installed = installed_modules(model)  # bare file names found where the OS loader looks, too
    if installed:
        return str(installed[0]), True
    names = model.module_paths(current_os())
    return (names[0] if names else None), False


def to_event(obs: Observation, at: float) -> TokenEvent:
    module: str | None
    if obs.module is not None:  # seen through a module: that module is here
        model, module, installed = model_for_module(Path(obs.module)), obs.module, True
    else:
        model = _model_for(obs)
        module, installed = _module_for(model)
    return TokenEvent(
        kind=obs.kind,
        source=obs.source,
        key=obs.key,
        reader=obs.reader,
        usb_id=f"{obs.usb_id[0]:04x}:{obs.usb_id[1]:04x}" if obs.usb_id else None,
        slot=obs.slot,
        atr=_hex_atr(obs.atr) if obs.atr else None,
        label=obs.label,
        model=model,
        module=module,
        module_installed=installed,
        at=at,
        initial=obs.initial,
    )


class Threaded:
    """A watcher's one thread: started with its arguments, stopped by a flag the thread waits on
    (``_interrupt`` wakes a thread blocked elsewhere), then joined."""

    name = "watcher"

    def __init__(self) -> None:
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def _begin(self, target: Callable[..., None], *args: object) -> None:
        self._thread = threading.Thread(target=target, args=args, name=f"watch-{self.name}", daemon=True)
        self._thread.start()

    def _interrupt(self) -> None:
        """Wake the thread from a blocking call other than the flag's wait (none by default)."""

    def stop(self) -> None:
        self._stopped.set()
        self._interrupt()
        if self._thread is not None:
            self._thread.join()


class EventStream:
    """Merges the watchers' observations. A change is passed on once it has held for
    ``debounce_s`` (a card that bounces in its reader is one event, or none), and only
    if it changes what was last passed on for that key. Events wait for ``get``, or go to
    ``deliver`` (called on the stream's thread) when one is given."""

    def __init__(self, watchers: Sequence[Watcher], *, debounce_s: float = 0.25,
                 deliver: Callable[[TokenEvent], None] | None = None) -> None:
        self.watchers = tuple(watchers)
        self.debounce_s = debounce_s
        self._events: queue.Queue[TokenEvent] = queue.Queue()
        self._deliver = deliver or self._events.put
        self._pending: dict[tuple[Source, str], tuple[Observation, float]] = {}
        self._settled: dict[tuple[Source, str], Kind] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="token-events", daemon=True)

    def start(self) -> dict[str, str]:
        """Start the stream and its watchers; those that cannot start (their service refused,
        say) are left out and returned with the reason."""
        self._thread.start()
        failed: dict[str, str] = {}
        started: list[Watcher] = []
        for watcher in self.watchers:
            try:
                watcher.start(self._observe)
            except Exception as exc:  # optional parts: one failing leaves the others running
                failed[watcher.name] = f"{type(exc).__name__}: {exc}"
            else:
                started.append(watcher)
        self.watchers = tuple(started)
        return failed

    def stop(self) -> None:
        for watcher in self.watchers:
            watcher.stop()
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    def get(self, timeout: float | None = None) -> TokenEvent | None:
        """The next event, or None after ``timeout`` seconds without one."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def _observe(self, obs: Observation) -> None:
        with self._cond:
            self._pending[(obs.source, obs.key)] = (obs, time.monotonic() + self.debounce_s)
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                due = [k for k, (_, deadline) in self._pending.items() if deadline <= now]
                for key in due:
                    obs, _ = self._pending.pop(key)
                    if self._settled.get(key, "left") != obs.kind:
                        self._settled[key] = obs.kind
                        self._deliver(to_event(obs, time.time()))
                next_deadline = min((d for _, d in self._pending.values()), default=None)
                self._cond.wait(None if next_deadline is None else max(0.0, next_deadline - now))
