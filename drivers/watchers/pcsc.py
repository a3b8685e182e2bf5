"""Cards and readers over PC/SC (pyscard), with each card's ATR.

Where the service supports the ``\\\\?PnP?\\Notification`` reader (pcsc-lite does),
one blocking ``SCardGetStatusChange`` call waits for cards and readers alike;
elsewhere the reader list is re-read every ``relist_s``. ``stop`` cancels the wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .events import Observation, Threaded

PNP_READER = "\\\\?PnP?\\Notification"


class PcscWatcher(Threaded):
    name = "pcsc"

    def __init__(self, *, relist_s: float = 2.0, wait_s: float = 60.0, retry_s: float = 5.0) -> None:
        from smartcard import scard  # optional: pyscard

        super().__init__()
        self._scard: Any = scard
        self.relist_s = relist_s
        self.wait_s = wait_s  # an upper bound on one wait, even with PnP notification
        self.retry_s = retry_s  # the PC/SC service not running: look again after this
        self._context: int | None = None
        self.pnp_supported: bool | None = None  # known once the watcher has connected
        self._first = True

    def start(self, emit: Callable[[Observation], None]) -> None:
        self._begin(self._run, emit)

    def _interrupt(self) -> None:
        context = self._context
        if context is not None:
            self._scard.SCardCancel(context)

    def _run(self, emit: Callable[[Observation], None]) -> None:
        s = self._scard
        cards: dict[str, bytes] = {}  # reader -> ATR of the card in it
        self._first = True  # until the first answer: the cards in the readers were there before us
        while not self._stopped.is_set():
            hr, context = s.SCardEstablishContext(s.SCARD_SCOPE_USER)
            if hr != s.SCARD_S_SUCCESS:
                self._stopped.wait(self.retry_s)
                continue
            self._context = context
            try:
                self._watch(context, cards, emit)
            finally:
                self._context = None
                s.SCardReleaseContext(context)
            for reader in list(cards):  # the service went away: so did its cards
                emit(Observation("left", "pcsc", reader, reader=reader, atr=cards.pop(reader)))
            if not self._stopped.is_set():
                self._stopped.wait(self.retry_s)

    def _watch(self, context: int, cards: dict[str, bytes], emit: Callable[[Observation], None]) -> None:
        s = self._scard
        self.pnp_supported = self._pnp_supported(context)
        states: dict[str, int] = {}  # reader -> last event state
        while not self._stopped.is_set():
            hr, readers = s.SCardListReaders(context, [])
            if hr == s.SCARD_E_NO_READERS_AVAILABLE:
                readers = []
            elif hr != s.SCARD_S_SUCCESS:
                return
            for gone in set(states) - set(readers):
                del states[gone]
                if gone in cards:
                    emit(Observation("left", "pcsc", gone, reader=gone, atr=cards.pop(gone)))
            query = [(r, states.get(r, s.SCARD_STATE_UNAWARE)) for r in readers]
            if self.pnp_supported:
                # pcsc-lite keeps the reader count in the high word: a different count wakes us
                query.append((PNP_READER, len(readers) << 16))
            timeout_s = self.wait_s if self.pnp_supported else self.relist_s
            hr, answered = s.SCardGetStatusChange(context, int(timeout_s * 1000), query)
            if hr == s.SCARD_E_CANCELLED:
                return
            if hr not in (s.SCARD_S_SUCCESS, s.SCARD_E_TIMEOUT):
                return
            first, self._first = self._first, False
            for reader, event_state, atr in answered:
                if reader == PNP_READER:
                    continue
                states[reader] = event_state & ~s.SCARD_STATE_CHANGED
                present = bool(event_state & s.SCARD_STATE_PRESENT) and not event_state & s.SCARD_STATE_MUTE
                if present and reader not in cards:
                    cards[reader] = bytes(atr)
                    emit(Observation("arrived", "pcsc", reader, reader=reader, atr=cards[reader], initial=first))
                elif not present and reader in cards:
                    emit(Observation("left", "pcsc", reader, reader=reader, atr=cards.pop(reader)))

    def _pnp_supported(self, context: int) -> bool:
        s = self._scard
        _, answered = s.SCardGetStatusChange(context, 0, [(PNP_READER, s.SCARD_STATE_UNAWARE)])
        return bool(answered) and not answered[0][1] & s.SCARD_STATE_UNKNOWN
