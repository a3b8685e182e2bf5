"""Running batches: one consent, one certificate check, one place in the token's queue and
one login for the whole batch; the documents are signed in order, each output written
before its item is marked signed, each with its own audit line. Progress goes to every
listener (Server-Sent Events). A batch interrupted by a stop or a crash resumes when the
daemon starts again: an item whose output exists is not signed again.

Before consent, a caller's documents take at most ``batch_max_mb`` on disk, all its batches
together (those receiving and those waiting for consent: ``intake``). What stays on disk
afterwards is ``retention``'s; a transient batch (VGCA SignFiles) is deleted when its call ends.
The per-document steps are in ``steps``."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from policies.limits import Limits

from ...audit import AuditLog
from ...errors import Code, SignerError, os_reason_vi
from ...lazy import lazy_import
from ...logs import get_logger
from ..caller import Caller
from ..documents.pool import DocumentPool
from ..options import PdfSignOptions, from_fields, names
from ..placing import Placed, Placing, spot_facts
from ..prompts import DocumentFacts
from ..signing import CheckedKey, SigningService
from .intake import Intake
from .journal import (
    CANCELLED,
    DONE,
    FAILED,
    FINAL,
    PENDING,
    RUNNING,
    SIGNED,
    Batch,
    Item,
    Journal,
)
from .progress import Progress, batch_event, item_event
from .retention import Retention, keeps_input
from .steps import DocumentSteps, batch_options

if TYPE_CHECKING:  # the document stack is imported with the first batch
    from ...engine import levels, pdf
else:
    pdf = lazy_import("signer.engine.pdf")

log = get_logger(__name__)

JOURNAL_EVERY_S = 1.0
LOOKAHEAD = 8  # documents prepared ahead of the key (at least as many as it signs at once)
PIPELINE_BYTES = 16 * 1024 * 1024  # large documents: fewer at a time in the pipeline (memory stays flat)


class BatchManager:
    def __init__(self, service: SigningService, journal: Journal, limits: Limits, audit: AuditLog,
                 pool: DocumentPool) -> None:
        self.service = service
        self.journal = journal
        self.limits = limits
        self.audit = audit
        self.pool = pool
        self._batches: dict[str, Batch] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._cancelled: set[str] = set()
        self._saved: dict[str, float] = {}  # when each batch's journal was last written
        self._receiving: set[str] = set()  # begun, documents still arriving (no journal yet)
        self._waiting: set[str] = set()  # running, not signing yet (consent, PIN, queue): a cancel stops them now
        self._dropping: set[str] = set()  # their caller is gone: deleted when their run stops
        self._settled: dict[str, set[int]] = {}  # items whose input goes once the journal says they settled
        self.intake = Intake(journal, limits)  # documents arriving: their caller's quota until consent
        self.retention = Retention(journal, limits, self._batches, self._receiving, self._forget)
        self.progress = Progress()
        self.steps = DocumentSteps(service, journal, pool, self.progress)
        self.watchers = self.progress.watchers  # the desktop companion's progress
        self.stopped_by_token: set[str] = set()  # failed in this run when their token was pulled out

    # -- creating and finding --

    def begin(self, caller: Caller, options: dict[str, str], *, transient: bool = False) -> Batch:
        """A new batch receiving its documents (``intake``); ``start`` runs it, ``discard`` (or ``drop``) deletes it."""
        unknown = set(options) - set(names("batch"))
        if unknown:
            raise SignerError(Code.BAD_REQUEST, f"unknown batch option(s): {', '.join(sorted(unknown))}",
                              vi=f"tùy chọn lô không hợp lệ: {', '.join(sorted(unknown))}")
        pdf.signature_level(from_fields(options)[0])  # refuse bad ones now
        batch = Batch(id=self.journal.new_id(), origin=caller.origin, options=dict(options), client=caller.client,
                      transient=transient)
        self.journal.prepare(batch.id)
        self._receiving.add(batch.id)
        self.intake.open(batch, caller.origin or caller.client)
        return batch

    def start(self, batch: Batch) -> None:
        if not batch.items:
            raise SignerError(Code.BAD_REQUEST, "a batch needs at least one 'file'",
                              vi="một lô cần có ít nhất một trường 'file'")
        self.journal.save(batch)
        self._receiving.discard(batch.id)
        self._batches[batch.id] = batch
        self._run_later(batch)

    def discard(self, batch: Batch) -> None:
        """A batch that was never started: deleted with what it received."""
        self._receiving.discard(batch.id)
        self.intake.release(batch.id)
        self.journal.discard(batch.id)

    def drop(self, batch: Batch) -> None:
        """Its caller is done with the batch (or gone): cancelled if it still runs, and deleted
        with all its documents as soon as it stops."""
        self._receiving.discard(batch.id)
        if batch.id in self._batches and batch.state not in FINAL:
            self._dropping.add(batch.id)
            self.cancel(batch)
            return
        self.journal.discard(batch.id)
        self._forget(batch.id)

    def find(self, batch_id: str, caller: Caller) -> Batch:
        """The batch, for the origin that created it only (others learn nothing: 404)."""
        batch = self._batches.get(batch_id)
        if batch is None or batch.origin != caller.origin:
            raise SignerError(Code.NOT_FOUND, "no such batch", vi="không có lô này")
        return batch

    def output(self, batch: Batch, index: int) -> Path:
        """Where a signed document of the batch is (NOT_FOUND for an item not signed)."""
        if not 0 <= index < len(batch.items):
            raise SignerError(Code.NOT_FOUND, "no such item", vi="không có văn bản này trong lô")
        item = batch.items[index]
        if item.state != SIGNED:
            raise SignerError(Code.NOT_FOUND, f"item {index} is {item.state}",
                              vi=f"văn bản {index} đang ở trạng thái {item.state}")
        path = self.journal.output(batch.id, index)
        if item.fetched and not path.exists():
            raise SignerError(Code.NOT_FOUND, f"item {index} was fetched and is deleted",
                              vi=f"văn bản {index} đã được tải về và đã bị xóa")
        return path

    def fetched(self, batch: Batch, index: int) -> None:
        """Its signed document was fetched whole: the next sweep deletes it (a transient
        batch's at once: nobody else may fetch it)."""
        item = batch.items[index]
        if item.fetched:
            return
        item.fetched = True
        if batch.transient:
            self.journal.drop_output(batch.id, index)
        elif batch.id in self._batches:
            self._save(batch)

    async def read_output(self, batch: Batch, index: int) -> bytes:
        """A signed document of the batch."""
        path = self.output(batch, index)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise SignerError(Code.FILE_UNREADABLE, f"item {index}: {exc.strerror or exc}",
                              vi=f"văn bản {index}: {os_reason_vi(exc)}") from None

    def get(self, batch_id: str) -> Batch | None:
        """Any batch, whoever created it: for the official's own companion, not for pages."""
        return self._batches.get(batch_id)

    def running_count(self) -> int:
        return sum(b.state in (PENDING, RUNNING) for b in self._batches.values())

    def cancel(self, batch: Batch) -> None:
        """Signed items stay (until fetched or expired); the rest are cancelled and their
        documents deleted. A run still waiting for consent, PIN or its queue place stops now."""
        if batch.state not in FINAL:
            self._cancelled.add(batch.id)
            if batch.state == PENDING and batch.id not in self._tasks:
                self._finish(batch)
            elif batch.id in self._waiting:
                self._tasks[batch.id].cancel()

    def resume(self, batch: Batch) -> None:
        """Run again the items that failed because the token or the PIN stopped the batch
        (their documents are kept until the batch expires; a cancelled or refused batch keeps none)."""
        if batch.state not in (FAILED, CANCELLED):
            raise SignerError(Code.BAD_REQUEST, f"the batch is {batch.state}", vi=f"lô đang ở trạng thái {batch.state}")
        again = [item for item in batch.items if item.state == FAILED and keeps_input(batch, item)]
        if not again:
            raise SignerError(Code.BAD_REQUEST, "nothing to run again: a cancelled or refused batch keeps no "
                                                "document, nor does one past its retention",
                              vi=("không có gì để chạy lại: lô đã hủy hoặc bị từ chối không giữ lại văn bản nào, "
                                  "lô đã quá thời hạn lưu giữ cũng vậy"))
        for item in again:
            item.state, item.error = PENDING, None
        batch.expires = None
        self._cancelled.discard(batch.id)
        batch.state = PENDING
        self.journal.save(batch)
        self._run_later(batch)

    def token_arrived(self) -> list[str]:
        """A token came: the batches a pulled-out token stopped carry on (asking the official to
        confirm again, as any batch does); the ids of those resumed."""
        resumed = []
        for batch_id in sorted(self.stopped_by_token):
            self.stopped_by_token.discard(batch_id)
            batch = self._batches.get(batch_id)
            if batch is not None and batch.state == FAILED:
                try:
                    self.resume(batch)
                except SignerError:
                    continue  # nothing left to run again (past its retention)
                resumed.append(batch_id)
        return resumed

    # -- progress --

    def events(self, batch: Batch) -> AsyncGenerator[dict, None]:
        """Each item's outcome once (those already settled first), then the final state."""
        return self.progress.events(batch)

    # -- running --

    def resume_all(self) -> None:
        """At start: every batch comes back; unfinished ones carry on where they stopped. A
        transient one's call ended with the daemon that ran it: it goes. Then the sweeps start."""
        for batch in self.journal.load_all():
            if batch.transient:
                self.journal.discard(batch.id)
                continue
            self._batches[batch.id] = batch
            if batch.state in (PENDING, RUNNING):
                self._run_later(batch)
            elif batch.expires is None:  # ended before batches expired: its retention starts now
                batch.expires = self.retention.expiry()
                self._save(batch)
        self.retention.start()

    async def stop(self) -> None:
        """At shutdown: stop the runs without marking anything (they resume at the next start)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.retention.stop()

    def _run_later(self, batch: Batch) -> None:
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks[batch.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(batch.id, None))

    async def _run(self, batch: Batch) -> None:
        if batch.id in self._cancelled:  # cancelled before its run began: nothing is asked
            self._finish(batch)
            return
        batch.state = RUNNING
        self._save(batch)
        caller = Caller(origin=batch.origin, client=batch.client)

        async def documents() -> tuple[DocumentFacts, ...]:
            await self.steps.count_pages(batch)
            return tuple(DocumentFacts(name=i.name, sha256=i.sha256, size=i.size, pages=i.pages)
                         for i in batch.items if i.state == PENDING)

        async def preview(checked: CheckedKey) -> bytes | None:
            first = next((i for i in batch.items if i.state == PENDING), None)
            if first is None:
                return None
            data = await asyncio.to_thread(self.journal.input(batch.id, first.index).read_bytes)
            return await self.service.pdf_preview(caller, data, batch_options(batch), checked.key)

        asking = self.service.can_place(caller)
        options = batch_options(batch, fallback=not asking)
        placing: Placing | None = None

        async def to_place() -> Placing | None:
            nonlocal placing
            placing = await self.steps.first_to_place(batch, caller, options) if asking else None
            return placing

        self._waiting.add(batch.id)
        try:
            if asking and options.profile is not None:
                options = await self.service.holder_options(caller, options, batch.options.get("cert"))
            async with self.service.signing(caller, "sign", batch.options.get("cert"), operation="batch",
                                            documents=documents, preview=preview, reason=options.reason,
                                            location=options.location, placing=to_place) as checked:
                self._waiting.discard(batch.id)
                self.intake.release(batch.id)
                self.progress.tell_watchers({**batch_event(batch), "origin": batch.origin,
                                     "names": [i.name for i in batch.items]})
                started, token_before = time.monotonic(), checked.key.signing_s
                await self._sign_items(batch, checked, options, placing.placed if placing else None)
                # how busy the token was kept: the pipeline's aim is a token that never waits
                log.debug("batch_signed", batch=batch.id, items=len(batch.items),
                          wall_s=round(time.monotonic() - started, 3),
                          token_s=round(checked.key.signing_s - token_before, 3))
        except SignerError as error:
            self._fail_remaining(batch, error.code)
        except Exception:  # a bug: the batch fails visibly, the log has the details
            log.exception("batch_failed", batch=batch.id)
            self._fail_remaining(batch, "INTERNAL_ERROR")
        except asyncio.CancelledError:
            if batch.id not in self._cancelled:
                raise  # the daemon stops: the batch resumes at its next start
        finally:
            self._waiting.discard(batch.id)
        self._finish(batch)

    async def _sign_items(self, batch: Batch, checked: CheckedKey, options: PdfSignOptions,
                          placed: Placed | None) -> None:
        """A pipeline: the next documents are parsed, placed and hashed (in worker processes)
        while the key signs, as many signing at once as it takes (``concurrency``), the signed
        ones assembled and written meanwhile: the key does not wait for PDF work. ``placed``:
        where the official put the block, for every document that nothing else places it in."""
        key = checked.key
        options = self.service.with_certificate_look(options, key)
        tsa = self.service.tsa()
        level = pdf.ready_level(options, checked.evidence, tsa)
        reserve = pdf.reserve_for(key, level)
        outline = pdf.KeyOutline.of(key)
        todo = [item for item in batch.items if item.state == PENDING]
        key.expect(sum(not self.steps.signed_before(batch, item) for item in todo))
        lookahead = max(LOOKAHEAD, key.concurrency)
        ahead: deque[tuple[Item, asyncio.Future]] = deque()
        finishing: deque[tuple[Item, asyncio.Task]] = deque()  # signed, being assembled and written
        audited: set[str] | None = None  # read from the audit log once, when a run finds outputs

        def room(queue: deque, limit: int, size: int) -> bool:
            """One more document of ``size`` fits: always the first, then within count and bytes."""
            held = sum(entry.size for entry, _ in (*ahead, *finishing))
            return not queue or (len(queue) < limit and held + size <= PIPELINE_BYTES)

        try:
            while todo or ahead:
                while todo and room(ahead, lookahead, todo[0].size):
                    item = todo.pop(0)
                    steps = self.steps.prepare(batch, item, outline, options, reserve, placed)
                    ahead.append((item, asyncio.ensure_future(steps)))
                if batch.id in self._cancelled:
                    break
                item, preparing = ahead.popleft()
                prepared = await preparing
                if prepared is None:  # signed before an interruption: never signed twice
                    audited = self._audited(batch) if audited is None else audited
                    self._settle(batch, item, SIGNED, None, checked, audit=_operation(batch, item) not in audited)
                elif isinstance(prepared, SignerError):
                    self._settle(batch, item, FAILED, prepared.code, checked)
                else:
                    item.pages = prepared.pages
                    while not room(finishing, key.concurrency, item.size):
                        await finishing.popleft()[1]  # a failure that ends the batch surfaces here
                    finishing.append((item, asyncio.ensure_future(
                        self._complete(batch, item, checked, prepared, level, tsa))))
                    await asyncio.sleep(0)  # let it reach the key before the next one is taken
            while finishing:
                await finishing.popleft()[1]
        finally:
            for _, preparing in ahead:  # cancelled or stopped: work started ahead is dropped
                preparing.cancel()
            for _, task in finishing:
                if task.done() and not task.cancelled():
                    task.exception()  # seen: the first failure already ended the batch
                task.cancel()

    async def _complete(self, batch: Batch, item: Item, checked: CheckedKey, prepared: pdf.PreparedPdf, level: str,
                        tsa: levels.TsaClient | None) -> None:
        signed = await self.steps.complete(batch, item, checked, prepared, level, tsa)
        if isinstance(signed, SignerError):
            self._settle(batch, item, FAILED, signed.code, checked)
        else:
            self._settle(batch, item, SIGNED, None, checked, placement=spot_facts(signed.spot))

    def _audited(self, batch: Batch) -> set[str]:
        """The batch's items whose audit line was written before an interruption."""
        since = datetime.fromisoformat(batch.created)
        return {e.operation for e in self.audit.read(since=since) if e.result == "OK"}

    def _settle(self, batch: Batch, item: Item, state: str, error: str | None, checked: CheckedKey, *,
                audit: bool = True, placement: dict | None = None) -> None:
        """The output (already renamed into place) is the record that an item is signed: the
        next run settles it without signing again, whatever the journal had time to say. So
        the journal is rewritten at most once a second while the batch runs, then the audit
        line is written."""
        item.state, item.error = state, error
        self._settled.setdefault(batch.id, set()).add(item.index)
        if time.monotonic() - self._saved.get(batch.id, 0.0) >= JOURNAL_EVERY_S:
            self._save(batch)
        if audit:
            self.audit.record(origin=batch.origin or batch.client, operation=_operation(batch, item),
                              result=error or "OK", certificate_sha256=checked.key.certificate.sha256.hex(),
                              document_sha256=item.sha256, document_size=item.size,
                              confirmation=checked.confirmation, placement=placement,
                              repaired_sha256=item.repaired_sha256, remote=checked.remote)
        self.progress.publish(batch, item_event(batch, item))

    def _fail_remaining(self, batch: Batch, code: str) -> None:
        for item in batch.items:
            if item.state == PENDING:
                item.state, item.error = FAILED, code
                self._settled.setdefault(batch.id, set()).add(item.index)
                self.progress.publish(batch, item_event(batch, item))

    def _finish(self, batch: Batch) -> None:
        if batch.id in self._cancelled:
            for item in batch.items:
                if item.state == PENDING:
                    item.state = CANCELLED
                    self.progress.publish(batch, item_event(batch, item))
            batch.state = CANCELLED
        else:
            batch.state = DONE if all(i.state == SIGNED for i in batch.items) else FAILED
        if batch.state == FAILED and not batch.transient and any(i.error == Code.TOKEN_NOT_PRESENT
                                                                 for i in batch.items):
            self.stopped_by_token.add(batch.id)
        batch.expires = self.retention.expiry()
        self.intake.release(batch.id)
        self._save(batch)
        self.progress.publish(batch, batch_event(batch))
        if batch.id in self._dropping:
            self.journal.discard(batch.id)
            self._forget(batch.id)
        else:
            self.retention.tidy(batch)

    def _forget(self, batch_id: str) -> None:
        for known in (self._batches, self._saved, self._settled):
            known.pop(batch_id, None)
        self.stopped_by_token.discard(batch_id)
        self.intake.release(batch_id)
        self._cancelled.discard(batch_id)
        self._dropping.discard(batch_id)

    def _save(self, batch: Batch) -> None:
        """The journal, then the inputs of the items it now records as settled."""
        self._saved[batch.id] = time.monotonic()
        try:
            self.journal.save(batch)
        except SignerError as error:  # a full disk: the batch goes on, its journal may lag
            log.error("batch_journal_unwritable", batch=batch.id, detail=error.detail)
            return
        for index in self._settled.pop(batch.id, ()):
            if not keeps_input(batch, batch.items[index]):
                self.journal.drop_input(batch.id, index)


def _operation(batch: Batch, item: Item) -> str:
    return f"batch {batch.id} item {item.index}"
