"""A document worker process: budgets set, the document stack loaded, then one task at a time.

Budgets: CPU time through RLIMIT_CPU, raised before each document to the process's used time
plus the document's allowance (SIGXCPU then interrupts the work); memory through RLIMIT_DATA,
set once for the whole process (its libraries included: the limit is what an administrator
sees the process take). A document over either, or one the engine itself refused as
DOCUMENT_TOO_COMPLEX (it turns a MemoryError into that), is answered so and the process
exits, so the next document starts in a fresh one. What Python cannot interrupt (a long
call inside a C library) the pool's wall-clock deadline ends by killing the process.
Windows has no ``resource`` module: there the wall-clock deadline is the only bound.

Messages are a pickled header and a byte string beside it (the document, the prepared
document), so large bytes cross the pipe without a pickled copy."""

from __future__ import annotations

import ctypes
import gc
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from ...engine.budget import ReadBudget, configure
from ...errors import Code, SignerError
from ...lazy import lazy_import

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from . import tasks
else:  # loaded by the worker process only
    tasks = lazy_import("signer.service.documents.tasks")

OK, REFUSED, OVER, FAILED = "ok", "refused", "over", "failed"  # how a task ended
READY = "ready"  # the first message of a started worker


@dataclass(frozen=True)
class Budget:
    """What one document may take."""

    cpu_s: float
    memory_mb: float  # the whole worker process's data (RLIMIT_DATA)
    deadline_s: float  # wall clock, waiting on the network included (the pool kills the process)
    read: ReadBudget  # pages searched, decoded stream sizes (the engine's own caps)


class OverBudget(BaseException):
    """Raised by SIGXCPU. Not an Exception: the libraries' ``except Exception`` must not swallow it."""


def send(conn: Connection, header: object, body: bytes | memoryview = b"") -> None:
    conn.send(header)
    conn.send_bytes(body)


def receive(conn: Connection) -> tuple[Any, bytes]:
    header = conn.recv()
    return header, conn.recv_bytes()


def serve(conn: Connection, budget: Budget, library_log_level: int) -> None:
    """The worker process's main. ``library_log_level``: the daemon's for pyHanko's own messages."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the daemon to handle
    logging.getLogger("pyhanko").setLevel(library_log_level)
    if hasattr(os, "nice"):
        os.nice(10)  # the daemon's own work (and the token's) comes first on a busy machine
    _one_malloc_arena()
    threading.Thread(target=_exit_with_daemon, daemon=True).start()
    _limit_memory(budget.memory_mb)
    configure(budget.read)  # a spawned process starts from the packaged limits: the configured ones apply
    if hasattr(signal, "SIGXCPU"):
        signal.signal(signal.SIGXCPU, _over_cpu)
    tasks.load()
    # A parsed document is a web of reference cycles that holds its bytes until a full garbage
    # collection; with the libraries' own objects frozen out of it, one costs next to nothing,
    # so each document starts with one (the memory of the previous is given back).
    gc.collect()
    gc.freeze()
    send(conn, (READY, os.getpid()))
    overruns = _overruns(budget)
    while True:
        try:
            (name, arguments), body = receive(conn)
        except (EOFError, OSError):  # the pool closed the channel: stop
            return
        try:
            status, value, out = _run(name, arguments, body, budget.cpu_s, overruns)
        except MemoryError:  # again, while the first was being handled
            _lift_memory_limit()
            status, value, out = OVER, overruns[MemoryError], b""
        del body
        send(conn, (status, value), out)
        del value, out  # an idle worker holds no document
        if status in (OVER, FAILED):  # what the document left behind goes with the process
            return


def _overruns(budget: Budget) -> dict[type[BaseException], tuple[str, str]]:
    """What each overrun is called, in English and Vietnamese, written before any document
    (nothing to allocate when memory is out)."""
    return {OverBudget: (f"more than {budget.cpu_s:g} s of processor time",
                         f"quá {budget.cpu_s:g} giây thời gian xử lý"),
            MemoryError: (f"more than {budget.memory_mb:g} MB of memory", f"quá {budget.memory_mb:g} MB bộ nhớ"),
            RecursionError: ("nested too deeply", "lồng nhau quá sâu")}


def _run(name: str, arguments: dict[str, Any], body: bytes, cpu_s: float,
         overruns: dict[type[BaseException], tuple[str, str]]) -> tuple[str, object, bytes | memoryview]:
    gc.collect()
    try:
        _arm_cpu(cpu_s)
        try:
            value, out = tasks.TASKS[name](body, **arguments)
        finally:
            _disarm_cpu()
        return OK, value, out
    except (Exception, OverBudget) as exc:  # noqa: BLE001 - a bug is logged by the daemon (INTERNAL_ERROR)
        over = _overrun(exc, overruns)
        if over is None:
            if not isinstance(exc, SignerError):
                return FAILED, "".join(traceback.format_exception(exc, limit=-12)), b""
            if exc.code != Code.DOCUMENT_TOO_COMPLEX:
                return REFUSED, (str(exc.code), exc.detail, exc.vi), b""
            # the engine's verdict on an overrun (memory it ran out of, say): the process may be
            # left fragmented or near its limit, so it goes like any other overrun
            over = ((exc.detail, exc.vi) if exc.detail else
                    ("reading it needs more than the budget allows", "đọc văn bản cần nhiều hơn mức cho phép"))
    _lift_memory_limit()  # room for the answer (the document's frames are gone); the process ends after it
    return OVER, over, b""


def _overrun(exc: BaseException, overruns: dict[type[BaseException], tuple[str, str]]) -> tuple[str, str] | None:
    """The budget ``exc`` says the document went over, also when a library turned that into
    another error (a read error ``from`` a MemoryError, say)."""
    link: BaseException | None = exc
    for _ in range(64):
        if link is None:
            return None
        for kind, text in overruns.items():
            if isinstance(link, kind):
                return text
        # as Python shows a chain: ``raise ... from None`` (the engine's own verdict) ends it
        link = link.__cause__ if link.__cause__ is not None or link.__suppress_context__ else link.__context__
    return None


_armed = False
_M_ARENA_MAX = -8  # mallopt(3)


def _arm_cpu(cpu_s: float) -> None:
    global _armed
    if resource is None:
        return
    used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # user + system seconds so far
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    soft = math.ceil(used + cpu_s)
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    _armed = True


def _disarm_cpu() -> None:
    global _armed
    _armed = False
    if resource is not None:
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def _over_cpu(signum: int, frame: FrameType | None) -> None:
    if _armed:  # a late signal after the document ended is ignored
        raise OverBudget


def _limit_memory(memory_mb: float) -> None:
    if resource is None:
        return
    hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
    soft = int(memory_mb * 1024 * 1024)
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    except (ValueError, OSError):  # a system that refuses it keeps the wall-clock bound
        pass


def _one_malloc_arena() -> None:
    """glibc: every thread allocates from the one heap. With a second arena, an allocation the
    memory limit refuses is retried in it, the arena's growth refused in turn, at the cost of a
    few system calls each: a document over the limit then creeps on for minutes instead of
    failing at once with MemoryError."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 1)
    except (OSError, AttributeError):  # a libc without mallopt does not retry so either
        pass


def _lift_memory_limit() -> None:
    if resource is not None:
        hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
        resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))


def _exit_with_daemon() -> None:
    """A daemon killed outright (SIGKILL) cannot stop its workers: they stop themselves."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)
