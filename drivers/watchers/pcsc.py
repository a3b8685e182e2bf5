"""Cards and readers over PC/SC (pyscard), with each card's ATR.

Where the service supports the ``\\\\?PnP?\\Notification`` reader (pcsc-lite does),
one blocking ``SCardGetStatusChange`` call waits for cards and readers alike;
elsewhere the reader list is re-read every ``relist_s``. ``stop`` cancels the wait.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..catalog import TokenModel, model_for_atr
from .events import Observation, Threaded
from .present import Card, Seen

PNP_READER = "\\\\?PnP?\\Notification"


def card_atr(scard: Any, event_state: int, atr: list[int]) -> bytes | None:
    """The ATR of the card a reader's state reports, or None when no card answers in it."""
    present = bool(event_state & scard.SCARD_STATE_PRESENT) and not event_state & scard.SCARD_STATE_MUTE
    return bytes(atr) if present else None


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
                found = card_atr(s, event_state, atr)
                if found is not None and reader not in cards:
                    cards[reader] = found
                    emit(Observation("arrived", "pcsc", reader, reader=reader, atr=found, initial=first))
                elif found is None and reader in cards:
                    emit(Observation("left", "pcsc", reader, reader=reader, atr=cards.pop(reader)))

    def _pnp_supported(self, context: int) -> bool:
        s = self._scard
        _, answered = s.SCardGetStatusChange(context, 0, [(PNP_READER, s.SCARD_STATE_UNAWARE)])
        return bool(answered) and not answered[0][1] & s.SCARD_STATE_UNKNOWN


def connected_cards(catalog: Iterable[TokenModel] | None = None) -> Seen[Card]:
    """The cards in the PC/SC readers now, each with its ATR."""
    try:
        from smartcard import scard  # optional: pyscard
    except ImportError:
        return Seen(not_available="pyscard is not installed")
    hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return Seen(not_available=_reason(scard, hr))
    try:
        hr, readers = scard.SCardListReaders(context, [])
        if hr == scard.SCARD_E_NO_READERS_AVAILABLE:
            return Seen()
        if hr != scard.SCARD_S_SUCCESS:
            return Seen(not_available=_reason(scard, hr))
        # timeout 0: the readers' current state, without waiting for a change
        hr, answered = scard.SCardGetStatusChange(context, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in readers])
        if hr not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
            return Seen(not_available=_reason(scard, hr))
        cards = []
        for reader, event_state, atr in answered:
            found = card_atr(scard, event_state, atr)
            if found is not None:
                cards.append(Card(reader, found, model_for_atr(found, catalog)))
        return Seen(tuple(cards))
    finally:
        scard.SCardReleaseContext(context)


def _reason(scard: Any, hr: int) -> str:
    if hr == scard.SCARD_E_NO_SERVICE:
        return "the PC/SC service is not running"
    return f"PC/SC error: {scard.SCardGetErrorMessage(hr)}"
