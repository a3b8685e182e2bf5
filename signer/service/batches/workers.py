"""Batch documents are prepared in worker processes.

Parsing, placing the block, adding the field and hashing are Python work: in the daemon's
own process they would share one interpreter lock with the event loop, the token worker
and the assembly of the signed documents. In a small pool of processes they run beside
them, on the other cores. The processes start with the first batch and stop after some idle
minutes (an idle daemon holds no worker); they read each document from the batch's folder
themselves, and what crosses back is the prepared document and its digest.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ...errors import Code, SignerError
from ...lazy import lazy_import
from ...logs import get_logger

if TYPE_CHECKING:
    from ...engine import pdf
else:  # the daemon imports this module at start; the document stack comes with the first batch
    pdf = lazy_import("signer.engine.pdf")

log = get_logger(__name__)
T = TypeVar("T")


class PreparePool:
    def __init__(self, workers: int, idle_s: float) -> None:
        self.workers = workers
        self.idle_s = idle_s  # the processes stop after this long without work
        self._executor: ProcessPoolExecutor | None = None
        self._active = 0
        self._idle_timer: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        return self._executor is not None

    async def prepare(self, path: Path, key: pdf.KeyOutline, options: pdf.PdfSignOptions, reserve: int
                      ) -> pdf.PreparedPdf:
        return await self._run(_prepare_in_worker, str(path), key, options, reserve)

    async def _run(self, work: Callable[..., T | tuple[str, str]], *args: object) -> T:
        self._active += 1
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(self._ready(), work, *args)
        except BrokenProcessPool:  # a worker died (out of memory on a hostile document?): start afresh
            log.error("batch_worker_died")
            self.close()
            raise SignerError(Code.INTERNAL_ERROR, "a document preparation process stopped") from None
        finally:
            self._active -= 1
            self._stop_when_idle()
        if isinstance(outcome, tuple):
            code, detail = outcome
            raise SignerError(Code(code), detail)
        return outcome

    async def pages(self, path: Path) -> int:
        """The document's page count (a document that cannot be read is refused)."""
        return await self._run(_pages_in_worker, str(path))

    def _stop_when_idle(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = asyncio.get_running_loop().call_later(self.idle_s, self._stop_if_idle)

    def _stop_if_idle(self) -> None:
        if self._active == 0:
            log.debug("batch_workers_idle_stop")
            self.close()

    def close(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _ready(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: a fork would copy the loaded PKCS#11 module and the daemon's threads
            self._executor = ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"),
                                                 initializer=_start_worker)
        return self._executor


def _start_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the daemon to handle
    if hasattr(os, "nice"):
        os.nice(10)  # work ahead of the token: on a busy machine the token's thread comes first
    threading.Thread(target=_exit_with_daemon, daemon=True).start()
    # A parsed document is a web of reference cycles that holds its bytes until a full garbage
    # collection; with the engine's own objects frozen out of it, one costs next to nothing,
    # so each document starts with one (the memory of the previous is given back).
    _ = pdf.prepare_pdf  # the engine loads now, so that its objects are frozen with the rest
    gc.collect()
    gc.freeze()


def _exit_with_daemon() -> None:
    """A daemon killed outright (SIGKILL) cannot stop its workers: they stop themselves."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)


def _pages_in_worker(path: str) -> int | tuple[str, str]:
    gc.collect()
    try:
        return pdf.page_count(pdf.open_pdf(Path(path).read_bytes()))
    except SignerError as error:
        return error.code, error.detail
    except OSError as exc:
        return "FILE_UNREADABLE", str(exc.strerror or exc)


def _prepare_in_worker(path: str, key: pdf.KeyOutline, options: pdf.PdfSignOptions, reserve: int
                       ) -> pdf.PreparedPdf | tuple[str, str]:
    """In a worker process: read, parse, place, add the field and hash (no token call).
    A refusal comes back as (code, detail): plain data crosses processes reliably."""
    gc.collect()
    try:
        data = Path(path).read_bytes()
        parsed = pdf.open_pdf(data)
        plan = pdf.plan_pdf(data, options, parsed)
        return pdf.prepare_pdf(data, key, options, bytes_reserved=reserve, parsed=parsed, plan=plan)
    except SignerError as error:
        return error.code, error.detail
    except OSError as exc:
        return "FILE_UNREADABLE", str(exc.strerror or exc)
