"""What the daemon does when a token arrives or leaves: an audit line each time, and the
batches a pulled-out token stopped carry on when a token comes back. What was plugged in
before the daemon started is neither."""

from __future__ import annotations

from ..audit import AuditLog
from ..keys.watch import ARRIVED, TokenWatch
from ..logs import get_logger
from .batches.manager import BatchManager
from .caller import DEVICE

log = get_logger(__name__)


async def follow_tokens(watch: TokenWatch, audit: AuditLog, batches: BatchManager) -> None:
    """Runs while the daemon does."""
    async with watch.listen() as changes:
        while True:
            change = await changes.get()
            if change.initial:
                continue  # there before the daemon started: neither plugged in nor pulled out now
            audit.record(origin=DEVICE, operation=f"token.{change.kind}", result="OK", device=change.as_audit())
            log.info("token_" + change.kind, name=change.name, source=change.source)
            if change.kind == ARRIVED:
                resumed = batches.token_arrived()
                if resumed:
                    log.info("batches_resumed", batches=resumed)
