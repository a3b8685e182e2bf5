"""Documents are read in bounded worker processes, against the running daemon: hostile documents
are refused with DOCUMENT_TOO_COMPLEX under the CPU-time and memory budgets, the health check
answers meanwhile, a worker that dies costs only its own document, requests beyond the queue
get BUSY, and SIGTERM stops the daemon while documents are being read.

The hostile documents come from a small generator of their own (``heavy_pdfs``, plain PDF bytes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
import structlog.testing
from conftest import DOCUMENTS, DevEnv
from daemon_harness import RunningDaemon
from heavy_pdfs import huge_table, many_pages
from http_client import Reply, call
from test_serve_cli import daemon_config

from policies.limits import load_limits
from signer.engine.budget import ReadBudget
from signer.engine.reading import reading
from signer.service.documents import tasks, worker

PAGE = "http://127.0.0.1:5190"
PDF = (DOCUMENTS / "libreoffice.pdf").read_bytes()
ANCHOR_SEARCHES = 6
HEALTH_TIMEOUT_S = 10.0  # generous: health must answer, how fast is the benchmark's business


@pytest.fixture(scope="module")
def ten_thousand_pages() -> bytes:
    return many_pages(10_000)


# -- helpers ----------------------------------------------------------------------------

def sign(url: str, data: bytes, query: str = "") -> Reply:
    return call("POST", f"{url}/v1/sign/pdf{query}", headers={"Origin": PAGE, "Content-Type": "application/pdf"},
                body=data, timeout=600)


def verify(url: str, data: bytes) -> Reply:
    return call("POST", f"{url}/v1/verify/pdf", headers={"Origin": PAGE, "Content-Type": "application/pdf"},
                body=data, timeout=600)


def health(url: str) -> Reply:
    return call("GET", f"{url}/v1/health", timeout=HEALTH_TIMEOUT_S)


class InFlight:
    """Requests sent from threads; their replies collected."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.threads: list[threading.Thread] = []

    def send(self, request: Callable[[], Reply]) -> None:
        thread = threading.Thread(target=lambda: self.replies.append(request()), daemon=True)
        thread.start()
        self.threads.append(thread)

    @property
    def pending(self) -> int:
        return sum(thread.is_alive() for thread in self.threads)

    def wait(self, timeout: float = 600) -> list[Reply]:
        for thread in self.threads:
            thread.join(timeout)
        assert not self.pending, "every request got its reply"
        return self.replies


def workers_of(process: psutil.Process) -> list[psutil.Process]:
    """The document workers (spawned processes) of ``process``, besides multiprocessing's resource tracker."""
    found = []
    for child in process.children():
        try:
            if "spawn_main" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:  # ended meanwhile
            pass
    return found


def until(condition: Callable[[], bool], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


@pytest.fixture
def running(dev_env: DevEnv, tmp_path: Path) -> Iterator[Callable[..., RunningDaemon]]:
    started: list[RunningDaemon] = []

    def start(**limits: float) -> RunningDaemon:
        daemon = RunningDaemon(dev_env.signer_config, tmp_path / f"daemon{len(started)}", allow_origins=(PAGE,),
                               pregranted=(PAGE,), unattended=(PAGE,), limits=limits)
        started.append(daemon.__enter__())
        return daemon

    yield start
    for daemon in started:
        daemon.__exit__(None, None, None)


# -- tests ------------------------------------------------------------------------------

def test_the_earlier_name_of_the_idle_limit_is_still_read() -> None:
    assert load_limits({"batch_worker_idle_s": 7}).document_worker_idle_s == 7


# a caller's anchor no page has: searched on the last pages, then refused (the profile's own titles
# would fall back to free space on the last page)
SEARCH = "?profile=approved&anchor=" + quote("PHÓ CHỦ TỊCH")


def test_health_answers_during_six_anchor_searches(running: Callable[..., RunningDaemon],
                                                  ten_thousand_pages: bytes) -> None:
    daemon = running(document_cpu_s=3, document_queue_per_caller=ANCHOR_SEARCHES)  # one page's six
    documents = daemon.daemon.signing.documents
    searches = InFlight()
    for _ in range(ANCHOR_SEARCHES):
        searches.send(lambda: sign(daemon.url, ten_thousand_pages, SEARCH))
    assert until(lambda: documents.busy == documents.workers), "the workers read the documents"
    for _ in range(3):
        assert health(daemon.url).status == 200
    assert searches.pending > 0, "the health checks were answered while searches were running"
    replies = searches.wait()
    assert [(r.status, r.code in ("ANCHOR_NOT_FOUND", "DOCUMENT_TOO_COMPLEX")) for r in replies] == \
        [(422, True)] * ANCHOR_SEARCHES, [r.body[:200] for r in replies]
    assert health(daemon.url).status == 200


def test_sigterm_stops_the_daemon_during_six_anchor_searches(dev_env: DevEnv, tmp_path: Path,
                                                             ten_thousand_pages: bytes) -> None:
    config = daemon_config(dev_env, tmp_path)
    config.write_text(config.read_text() + "\n[limits]\ndocument_cpu_s = 120\n"
                      f"document_queue_per_caller = {ANCHOR_SEARCHES}\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "signer", "serve", "--config", str(config), "--port", "0", "--tls-port", "0",
         "--allow-origin", PAGE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dev_env.env())
    try:
        line = process.stdout.readline()
        assert "Listening" in line, line + process.stderr.read()
        url = "http://127.0.0.1:" + line.split("http://127.0.0.1:")[1].split()[0]
        searches = InFlight()
        for _ in range(ANCHOR_SEARCHES):
            searches.send(lambda: sign(url, ten_thousand_pages, SEARCH))
        daemon = psutil.Process(process.pid)
        assert until(lambda: len(workers_of(daemon)) == 2), "two document workers started"
        workers = workers_of(daemon)
        assert health(url).status == 200
        assert searches.pending > 0, "searches are running"
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        print(f"stopped {time.monotonic() - sent:.1f} s after SIGTERM")
        assert "Stopped" in process.stdout.read()
        replies = searches.wait(30)
        answers = [(r.status, r.code) for r in replies]
        assert (503, "BUSY") in answers, "the work in flight was dropped, its requests answered"
        assert set(answers) <= {(503, "BUSY"), (422, "ANCHOR_NOT_FOUND"), (422, "DOCUMENT_TOO_COMPLEX")}, answers
        assert until(lambda: not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers), 10), \
            "the workers were killed"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def tight(running: Callable[..., RunningDaemon]) -> RunningDaemon:
    """A daemon whose documents may take 2 s of processor time (and plenty of memory)."""
    return running(document_cpu_s=2, document_memory_mb=4000)


def test_a_document_over_the_cpu_budget_is_refused(tight: RunningDaemon) -> None:
    calls_before = tight.token_calls
    reply = sign(tight.url, huge_table(2_000_000))
    assert (reply.status, reply.code) == (422, "DOCUMENT_TOO_COMPLEX"), reply.body[:300]
    assert "processor time" in reply.json()["message"]
    assert tight.token_calls == calls_before, "refused before the token"


def test_a_document_over_the_memory_budget_is_refused(running: Callable[..., RunningDaemon]) -> None:
    daemon = running(document_memory_mb=200, document_cpu_s=120)
    documents = daemon.daemon.signing.documents
    with structlog.testing.capture_logs() as logged:
        hostile = InFlight()
        hostile.send(lambda: sign(daemon.url, huge_table(1_500_000)))
        assert until(lambda: documents.busy == 1 and len(workers_of(psutil.Process())) == 1), "a worker reads it"
        [first] = workers_of(psutil.Process())
        [reply] = hostile.wait()
    assert (reply.status, reply.code) == (422, "DOCUMENT_TOO_COMPLEX"), reply.body[:300]
    assert "memory" in reply.json()["message"]
    assert [e["task"] for e in logged if e["event"] == "document_over_budget"] == ["inspect"], "an overrun..."
    assert until(lambda: first.pid not in [w.pid for w in workers_of(psutil.Process())]), \
        "...whose worker is not kept"
    again = sign(daemon.url, PDF)
    assert again.status == 200 and again.body.startswith(b"%PDF"), "the next document gets a fresh worker"


def test_a_document_the_engine_found_too_complex_ends_its_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory the engine ran out of (its verdict, ``from None``) is an overrun like any other:
    the worker's process is not kept for the next document."""
    def out_of_memory(body: bytes) -> tuple[object, bytes]:
        with reading():
            raise MemoryError
    monkeypatch.setitem(tasks.TASKS, "out_of_memory", out_of_memory)
    budget = worker.Budget(60, 4000, 120, ReadBudget.of(load_limits()))
    status, detail, _ = worker._run("out_of_memory", {}, b"", 60, worker._overruns(budget))
    assert (status, detail) == (worker.OVER, ("reading it needs more memory than allowed",
                                              "đọc văn bản cần nhiều bộ nhớ hơn mức cho phép"))


def test_verification_over_budget_is_refused_while_health_and_signatures_go_on(tight: RunningDaemon) -> None:
    documents = tight.daemon.signing.documents
    hostile = InFlight()
    hostile.send(lambda: verify(tight.url, huge_table(2_000_000)))
    assert until(lambda: documents.busy == 1), "the document is being read"
    assert health(tight.url).status == 200
    signed = sign(tight.url, PDF)  # in the other worker
    assert signed.status == 200 and signed.body.startswith(b"%PDF"), signed.body[:300]
    [reply] = hostile.wait()
    assert (reply.status, reply.code) == (422, "DOCUMENT_TOO_COMPLEX"), reply.body[:300]
    assert verify(tight.url, signed.body).json()["passed"] is True


def test_a_worker_that_dies_costs_only_its_document(running: Callable[..., RunningDaemon]) -> None:
    daemon = running(document_cpu_s=120, document_memory_mb=4000)
    documents = daemon.daemon.signing.documents
    hostile = InFlight()
    hostile.send(lambda: verify(daemon.url, huge_table(4_000_000)))
    assert until(lambda: documents.busy == 1 and len(workers_of(psutil.Process())) == 1), "a worker reads it"
    [worker] = workers_of(psutil.Process())
    os.kill(worker.pid, signal.SIGKILL)
    [reply] = hostile.wait()
    assert (reply.status, reply.code) == (422, "DOCUMENT_TOO_COMPLEX"), reply.body[:300]
    signed = sign(daemon.url, PDF)
    assert signed.status == 200 and signed.body.startswith(b"%PDF"), "the pool started a new worker"


def test_requests_beyond_the_queue_get_busy(running: Callable[..., RunningDaemon]) -> None:
    daemon = running(document_workers=1, document_queue=1, document_memory_mb=4000)
    documents = daemon.daemon.signing.documents
    slow = InFlight()
    slow.send(lambda: verify(daemon.url, huge_table(1_000_000)))
    assert until(lambda: documents.busy == 1)
    slow.send(lambda: verify(daemon.url, huge_table(1_000_000)))
    assert until(lambda: documents.waiting == 1)
    refused = verify(daemon.url, PDF)
    assert (refused.status, refused.code) == (503, "BUSY") and refused.headers["retry-after"]
    assert [(r.status, r.json()["signatures"]) for r in slow.wait()] == [(200, [])] * 2
    assert verify(daemon.url, PDF).status == 200


def test_a_caller_that_floods_the_pool_leaves_room_for_another(running: Callable[..., RunningDaemon]) -> None:
    daemon = running(document_workers=1, document_queue=4, document_queue_per_caller=2, document_memory_mb=4000)
    documents = daemon.daemon.signing.documents
    flood = InFlight()
    flood.send(lambda: verify(daemon.url, huge_table(1_000_000)))
    assert until(lambda: documents.busy == 1)
    for waiting in (1, 2):
        flood.send(lambda: verify(daemon.url, huge_table(1_000_000)))
        assert until(lambda: documents.waiting == waiting)  # noqa: B023 - checked before the next turn
    refused = verify(daemon.url, PDF)  # the page's third waiting document
    assert (refused.status, refused.code) == (503, "BUSY") and refused.headers["retry-after"]
    other = call("POST", f"{daemon.url}/v1/verify/pdf", body=PDF, timeout=600,
                 headers={**daemon.auth, "Content-Type": "application/pdf"})  # the API-token client
    assert (other.status, other.json()["signatures"]) == (200, []), other.body[:300]
    assert flood.pending == 2, "served before the page's documents that waited longer"
    assert [(r.status, r.json()["signatures"]) for r in flood.wait()] == [(200, [])] * 3

