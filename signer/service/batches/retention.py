"""What stays on disk of the batches, and the sweeps that delete the rest.

Documents stay only while someone needs them: an input until its item settles (or, for an
item a removed token or a PIN problem stopped, until the batch expires: a resume needs it),
a signed output until it was fetched (deleted by the next sweep) or the batch expires
(``output_retention_h`` after it ended). A refused or cancelled batch keeps no input. The
sweep runs at start and every ``retention_sweep_s``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Set
from datetime import UTC, datetime, timedelta

from policies.limits import Limits

from ...errors import Code, ends_batch
from ...logs import get_logger
from .journal import CANCELLED, FAILED, FINAL, PENDING, SIGNED, Batch, Item, Journal

log = get_logger(__name__)

# the official said no (or the refusal back-off did): the batch keeps nothing to resume
REFUSED = frozenset({Code.CONSENT_DENIED, Code.CONSENT_BACKOFF, Code.USER_CANCELLED})


class Retention:
    """Deletes, for the manager, what its batches no longer need. ``batches`` and ``receiving``
    are the manager's own (the batches it knows, those still receiving); ``forget`` makes it
    forget an expired batch."""

    def __init__(self, journal: Journal, limits: Limits, batches: Mapping[str, Batch], receiving: Set[str],
                 forget: Callable[[str], None]) -> None:
        self.journal = journal
        self.limits = limits
        self._batches = batches
        self._receiving = receiving
        self._forget = forget
        self._sweeper: asyncio.Task | None = None

    def expiry(self) -> str:
        """When a batch ending now expires."""
        return (datetime.now(UTC) + timedelta(seconds=self.limits.output_retention_s)).isoformat(timespec="seconds")

    def start(self) -> None:
        """A sweep now, then every ``retention_sweep_s``."""
        self.sweep()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_every(self.limits.retention_sweep_s))

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)

    async def _sweep_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.sweep()
            except Exception:  # a bug must not end the sweeps
                log.exception("batch_sweep_failed")

    def sweep(self) -> None:
        """Delete what is past retention: expired batches; fetched outputs and inputs nobody
        needs; folders of batches this daemon does not know that nobody has touched for a
        retention period (an upload cut by a crash, a damaged journal, a command's batch)."""
        now = datetime.now(UTC)
        for batch in list(self._batches.values()):
            if batch.state not in FINAL:
                continue
            if batch.expires is not None and datetime.fromisoformat(batch.expires) <= now:
                self.journal.discard(batch.id)
                self._forget(batch.id)
            else:
                self.tidy(batch, sweeping=True)
        known = self._batches.keys() | self._receiving
        oldest = time.time() - self.limits.output_retention_s
        for batch_id in self.journal.on_disk():
            if batch_id not in known:
                with contextlib.suppress(OSError):  # deleted meanwhile
                    if self.journal.last_change(batch_id) < oldest:
                        self.journal.discard(batch_id)

    def tidy(self, batch: Batch, *, sweeping: bool = False) -> None:
        """An ended batch: the inputs nobody needs go (and, in a sweep, the fetched outputs),
        then its folder once no document is left in it (its state still answers, from memory,
        until it expires)."""
        for item in batch.items:
            if not keeps_input(batch, item):
                self.journal.drop_input(batch.id, item.index)
            if sweeping and item.fetched:
                self.journal.drop_output(batch.id, item.index)
        if not any(keeps_input(batch, i) or (i.state == SIGNED and not (sweeping and i.fetched))
                   for i in batch.items):
            self.journal.discard(batch.id)


def keeps_input(batch: Batch, item: Item) -> bool:
    """Whether an item's document is still needed: to sign it, or to resume it after a removed
    token or a PIN problem (not after a cancel or the official's refusal)."""
    if item.state == PENDING:
        return True
    return (item.state == FAILED and batch.state != CANCELLED and ends_batch(item.error)
            and item.error not in REFUSED)
