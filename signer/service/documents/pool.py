"""The daemon's side of the document workers.

A bounded pool of worker processes (``document_workers``), started with the first document
and stopped after some idle minutes. Work comes in three lanes:

- a request's document before consent (placement, page count, preview, verification):
  beyond ``document_queue`` waiting, or ``document_queue_per_caller`` of the same caller
  (origin or client), the request gets BUSY; dropped at once at shutdown;
- a signature the official consented to (the document prepared for the token): it waits
  for a worker whatever the queue, is the first served when one comes free, and is
  finished at shutdown;
- a batch's documents: at most ``batch_workers`` at once (the batch stops itself at shutdown).

Each exchange runs in a thread of the pool that waits on the worker's pipe and on its
process, with the budget's wall-clock deadline: the event loop only awaits. A worker that
dies, overruns or is killed costs only its own document; the next document starts a new one.
A request that goes away (its task cancelled) kills the work done for it.

A free worker goes first to a consented signature, then to the waiting request whose caller
has the fewest documents in the pool, read or waiting (the earliest among equals): a caller
that floods the pool waits behind everyone else's documents, and holds no more than its
share of the queue.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import multiprocessing.connection
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import Code, SignerError
from ...logs import get_logger
from . import worker
from .worker import FAILED, OK, READY, REFUSED, Budget

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from ...certificates import Trust
    from ...engine import appearance, pdf
    from ...engine.options import PdfSignOptions
    from ...engine.pagespace import Rect
    from ...validation.report import SignatureReport

log = get_logger(__name__)

DIED, LATE, UNSTARTED = "died", "late", "unstarted"  # how an exchange ends besides the worker's answers
REUSABLE = (OK, REFUSED)  # the worker answered and stays for the next document
STOPPING, STOPPING_VI = "the daemon is stopping", "dịch vụ ký số đang dừng"


class Lane(Enum):
    REQUEST = "request"
    SIGNATURE = "signature"
    BATCH = "batch"


@dataclass(frozen=True)
class Inspection:
    """A document read before consent."""

    pages: int
    plan: bytes | None  # where the block goes, as the worker wrote it down (opaque here); None: no block
    rewritten: bytes | None = None  # a damaged document's lossless rewrite: what the plan is for, and what is signed


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection

    def kill(self) -> None:
        self.process.kill()


@dataclass(eq=False)
class _Job:
    """A worker slot in use; its process starts in the exchange when no idle one was there."""

    lane: Lane
    caller: str | None  # who asked, for a request's document
    worker: _Worker | None = None
    handed: bool = False  # the document was given to the worker
    killed: bool = False

    def kill(self) -> None:
        self.killed = True
        if self.worker is not None:
            self.worker.kill()


@dataclass(eq=False)
class _Waiter:
    lane: Lane
    caller: str | None
    admitted: asyncio.Future[_Job]


def _retire(retired: _Worker) -> None:
    """In a thread of the pool (the only one using this worker): its channel closed, its process reaped."""
    retired.conn.close()
    retired.process.join(5)
    if retired.process.is_alive():
        retired.kill()
        retired.process.join()


class DocumentPool:
    def __init__(self, budget: Budget, *, workers: int, batch_workers: int, queue: int, queue_per_caller: int,
                 idle_s: float) -> None:
        self.budget = budget
        self.workers = workers
        self.batch_workers = batch_workers
        self.queue = queue
        self.queue_per_caller = queue_per_caller
        self.idle_s = idle_s
        self._idle: list[_Worker] = []
        self._jobs: set[_Job] = set()
        self._waiters: deque[_Waiter] = deque()
        self._threads: ThreadPoolExecutor | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._stopping = False  # requests' documents are refused
        self._closed = False

    @property
    def running(self) -> bool:
        """Whether a worker process is up."""
        return bool(self._idle) or any(job.worker is not None for job in self._jobs)

    @property
    def busy(self) -> int:
        """Documents in a worker's hands now (not counting those whose worker is starting)."""
        return sum(job.handed for job in self._jobs)

    @property
    def waiting(self) -> int:
        """Documents waiting for a worker."""
        return len(self._waiters)

    # -- the work ------------------------------------------------------------------

    async def inspect(self, caller: str, data: bytes, options: PdfSignOptions) -> Inspection:
        """Before consent: the page count, and the block placed (a document that cannot be
        read, or has no place for the block, is refused now; a damaged one is repaired, see
        ``Inspection.rewritten``). ``caller``: who asks (its name)."""
        (pages, plan), rewritten = await self._run(Lane.REQUEST, caller, "inspect", data, {"options": options})
        return Inspection(pages, plan, rewritten or None)

    async def inspect_file(self, path: Path, options: PdfSignOptions) -> Inspection:
        """``inspect`` for a batch's document, read from its file by the worker."""
        pages, plan = await self._value(Lane.BATCH, None, "inspect", b"", options=options, path=str(path))
        return Inspection(pages, plan)

    async def prepare_document(self, data: bytes, key: pdf.KeyOutline, options: PdfSignOptions, reserve: int,
                               inspection: Inspection) -> pdf.PreparedPdf:
        """After consent: the field added where ``inspection`` placed it, and the hash."""
        return await self._prepared(Lane.SIGNATURE, None, data, path=None, key=key, options=options, reserve=reserve,
                                    plan=inspection.plan)

    async def prepare(self, path: Path, key: pdf.KeyOutline, options: PdfSignOptions, reserve: int
                      ) -> pdf.PreparedPdf:
        """A batch's document, read from its file by the worker."""
        return await self._prepared(Lane.BATCH, None, b"", path=str(path), key=key, options=options, reserve=reserve,
                                    plan=None)

    async def pages(self, path: Path) -> int:
        """A batch's document's page count (a document that cannot be read is refused)."""
        pages: int = await self._value(Lane.BATCH, None, "pages", b"", path=str(path))
        return pages

    async def preview(self, caller: str, data: bytes, options: PdfSignOptions, facts: appearance.BlockFacts, *,
                      scale: float) -> bytes:
        png: bytes = await self._value(Lane.REQUEST, caller, "preview", data, options=options, facts=facts,
                                       scale=scale)
        return png

    async def page(self, caller: str, data: bytes, index: int, width_px: int) -> tuple[bytes, Rect, int]:
        """Page ``index`` (from 0) as a PNG, its visible box (display space) and the page count."""
        (visible, count), png = await self._run(Lane.REQUEST, caller, "page", data,
                                                {"index": index, "width_px": width_px})
        return png, visible, count

    async def verify(self, caller: str, data: bytes, trust: Trust, **options: Any) -> list[SignatureReport]:
        """A report per signature; ``options`` (plain data) go to the report unchanged."""
        reports: list[SignatureReport] = await self._value(
            Lane.REQUEST, caller, "verify", data, anchors=[c.dump() for c in trust.anchors],
            intermediates=[c.dump() for c in trust.intermediates], options=options)
        return reports

    async def _prepared(self, lane: Lane, caller: str | None, data: bytes, **arguments: Any) -> pdf.PreparedPdf:
        prepared: pdf.PreparedPdf
        prepared, body = await self._run(lane, caller, "prepare", data, arguments)
        prepared.output = io.BytesIO(body)
        return prepared

    async def _value(self, lane: Lane, caller: str | None, task: str, data: bytes, **arguments: Any) -> Any:
        return (await self._run(lane, caller, task, data, arguments))[0]

    async def _run(self, lane: Lane, caller: str | None, task: str, data: bytes, arguments: dict[str, Any]
                   ) -> tuple[Any, bytes]:
        job = await self._admit(lane, caller)
        status = UNSTARTED
        try:
            status, value, body = await asyncio.get_running_loop().run_in_executor(
                self._pool_threads(), self._exchange, job, task, arguments, data)
        except asyncio.CancelledError:  # nobody waits for this document any more: its work ends
            job.kill()
            raise
        finally:
            self._release(job, reusable=status in REUSABLE)
        return self._answer(job, task, status, value), body

    def _answer(self, job: _Job, task: str, status: str, value: Any) -> Any:
        if status == OK:
            return value
        if status == REFUSED:
            code, detail, vi = value
            raise SignerError(Code(code), detail, vi=vi)
        if job.killed and self._stopping:
            raise SignerError(Code.BUSY, STOPPING, vi=STOPPING_VI)
        if status == FAILED:
            log.error("document_worker_failed", task=task, traceback=value)
            raise SignerError(Code.INTERNAL_ERROR, "see the daemon's log", vi="xem nhật ký của dịch vụ ký số")
        if status == UNSTARTED:  # a broken installation, or a memory budget below what the libraries take
            log.error("document_worker_unstarted", task=task, memory_mb=self.budget.memory_mb)
            raise SignerError(Code.INTERNAL_ERROR, "a document worker process did not start",
                              vi="không khởi động được tiến trình đọc văn bản")
        if status == LATE:
            value = (f"more than {self.budget.deadline_s:g} s", f"quá {self.budget.deadline_s:g} giây")
        elif status == DIED:  # out of memory inside a library, or killed by the system
            value = ("its worker process stopped", "tiến trình đọc văn bản đã dừng")
        detail, vi = value  # an overrun's words, in English and Vietnamese
        log.warning("document_over_budget", task=task, detail=detail)
        raise SignerError(Code.DOCUMENT_TOO_COMPLEX, detail, vi=vi)

    # -- in a thread of the pool ---------------------------------------------------

    def _exchange(self, job: _Job, task: str, arguments: dict[str, Any], data: bytes) -> tuple[str, Any, bytes]:
        """The document to the worker and its answer back, within the wall-clock deadline."""
        current = job.worker or self._start(job)
        if current is None:
            return UNSTARTED, None, b""
        try:
            job.handed = True
            worker.send(current.conn, (task, arguments), data)
            ready = multiprocessing.connection.wait([current.conn, current.process.sentinel],
                                                    timeout=self.budget.deadline_s)
            if current.conn in ready:
                (status, value), body = worker.receive(current.conn)
                if status not in REUSABLE:
                    _retire(current)  # it exits after its answer
                return status, value, body
        except (EOFError, OSError):  # the process ended before it answered
            ready = [current.process.sentinel]
        current.kill()
        _retire(current)
        return (LATE if not ready else DIED), None, b""

    def _start(self, job: _Job) -> _Worker | None:
        # spawn: a fork would copy the loaded PKCS#11 module and the daemon's threads
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=worker.serve, name="signer-documents", daemon=True,
                                  args=(theirs, self.budget, logging.getLogger("pyhanko").getEffectiveLevel()))
        process.start()
        theirs.close()
        started = job.worker = _Worker(process, ours)
        if job.killed:  # killed while it was starting
            started.kill()
        try:
            if ours in multiprocessing.connection.wait([ours, process.sentinel], timeout=self.budget.deadline_s):
                if worker.receive(ours)[0][0] == READY:
                    return started
        except (EOFError, OSError):
            pass
        started.kill()
        _retire(started)
        return None

    def _pool_threads(self) -> ThreadPoolExecutor:
        if self._threads is None:
            # one thread per worker's exchange, and room for killed ones still being reaped
            self._threads = ThreadPoolExecutor(2 * self.workers, thread_name_prefix="documents")
        return self._threads

    # -- admission -----------------------------------------------------------------

    async def _admit(self, lane: Lane, caller: str | None) -> _Job:
        if self._closed or (self._stopping and lane is Lane.REQUEST):
            raise SignerError(Code.BUSY, STOPPING, vi=STOPPING_VI)
        if self._can_start(lane):
            return self._occupy(lane, caller)
        if lane is Lane.REQUEST:
            requests = [w for w in self._waiters if w.lane is Lane.REQUEST]
            if len(requests) >= self.queue:
                raise SignerError(Code.BUSY, f"{self.queue} documents are waiting to be read",
                                  vi=f"có {self.queue} văn bản đang chờ được đọc")
            if sum(w.caller == caller for w in requests) >= self.queue_per_caller:
                raise SignerError(Code.BUSY, f"{self.queue_per_caller} of this caller's documents are waiting "
                                             "to be read",
                                  vi=f"có {self.queue_per_caller} văn bản của chương trình gọi này đang chờ được đọc")
        waiter = _Waiter(lane, caller, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            return await waiter.admitted
        except asyncio.CancelledError:
            admitted = waiter.admitted
            if admitted.done() and not admitted.cancelled() and admitted.exception() is None:
                self._release(admitted.result(), reusable=True)  # given a worker just as it was cancelled
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _can_start(self, lane: Lane) -> bool:
        if len(self._jobs) >= self.workers:
            return False
        return lane is not Lane.BATCH or sum(j.lane is Lane.BATCH for j in self._jobs) < self.batch_workers

    def _occupy(self, lane: Lane, caller: str | None) -> _Job:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        job = _Job(lane, caller, self._idle.pop() if self._idle else None)
        self._jobs.add(job)
        return job

    def _release(self, job: _Job, *, reusable: bool) -> None:
        self._jobs.discard(job)
        if job.worker is not None:
            if reusable and not job.killed and not self._closed:
                self._idle.append(job.worker)
            else:
                job.worker.kill()
        for waiter in [w for w in self._waiters if w.admitted.done()]:
            self._waiters.remove(waiter)
        while (chosen := self._next()) is not None:
            self._waiters.remove(chosen)
            chosen.admitted.set_result(self._occupy(chosen.lane, chosen.caller))
        if not self._jobs and not self._closed:
            self._idle_timer = asyncio.get_running_loop().call_later(self.idle_s, self._stop_idle)

    def _next(self) -> _Waiter | None:
        """Who gets a free worker: a consented signature first, then the earliest document of
        the callers with the fewest documents in the pool, read or waiting (a batch's documents
        count as nobody's)."""
        startable = [w for w in self._waiters if self._can_start(w.lane)]
        if not startable:
            return None
        held = Counter(j.caller for j in self._jobs if j.lane is Lane.REQUEST)
        held.update(w.caller for w in self._waiters if w.lane is Lane.REQUEST)
        return min(startable, key=lambda w: (w.lane is not Lane.SIGNATURE,
                                             held[w.caller] if w.lane is Lane.REQUEST else 0))

    def _stop_idle(self) -> None:
        self._idle_timer = None
        if not self._jobs:
            log.debug("document_workers_idle_stop")
            for idle in self._idle:
                self._pool_threads().submit(_retire, idle)  # it reads the end of its channel and exits
            self._idle.clear()

    # -- stopping ------------------------------------------------------------------

    def drain(self) -> None:
        """At shutdown: the documents of requests nobody consented to yet are dropped at once
        (their workers killed, not waited for); a consented signature is still prepared."""
        self._stopping = True
        for waiter in list(self._waiters):
            if waiter.lane is Lane.REQUEST:
                self._waiters.remove(waiter)
                if not waiter.admitted.done():
                    waiter.admitted.set_exception(SignerError(Code.BUSY, STOPPING, vi=STOPPING_VI))
        for job in list(self._jobs):
            if job.lane is Lane.REQUEST:
                job.kill()

    def close(self) -> None:
        """The end: every worker killed, not waited for."""
        self._stopping = self._closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        for waiter in self._waiters:  # none once the event loop has ended
            if not waiter.admitted.done() and not waiter.admitted.get_loop().is_closed():
                waiter.admitted.set_exception(SignerError(Code.BUSY, STOPPING, vi=STOPPING_VI))
        self._waiters.clear()
        for job in self._jobs:
            job.kill()
        for idle in self._idle:
            idle.kill()
            idle.conn.close()  # no thread uses an idle worker's channel
        self._idle.clear()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None
