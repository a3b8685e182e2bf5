"""Hostile documents beside an idle daemon: its memory and its health check, in one run.

    python bench/hostile_load.py [--searches 6] [--pages 10000] [--entries 4500000] [--bomb-mb 1024]
                                 [--big-mb 85] [--samples 50]

One ``signer serve`` process with the packaged limits. Idle: the health check's latency over
--samples calls and the daemon's peak resident size. Hostile, all at once: a document whose
cross-reference table has --entries entries (verified, and signed), a flate bomb inflating to
--bomb-mb MB (signed with the ``approved`` profile: the anchor search reads the page), and
--searches anchor searches in a --pages-page document; the health check is called meanwhile.
Printed: the daemon's peak and the health latency there beside idle (ratios), the size of the
request bodies the daemon holds meanwhile, each hostile request's answer, the document workers'
peak. Before that, on the fresh daemon, a --big-mb scanned document signed through the API: the
peaks of the daemon and of its worker (target: each under 512 MB). Last, SIGTERM with the
searches running: how long the daemon takes to stop (target: 5 s).

Peaks are VmHWM from /proc (Linux), reset before each phase; the workers' are sampled every
50 ms. Uses SIGNER_CONFIG / SOFTHSM2_CONF when set; otherwise creates development tokens in a
temporary folder with softhsm-setup.sh.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

from batch import serving  # noqa: E402
from heavy_pdfs import flate_bomb, huge_table, many_pages, scanned  # noqa: E402
from http_client import Reply, call  # noqa: E402
from sign_single import ensure_tokens  # noqa: E402

SAMPLE_S = 0.05
# a caller's anchor no page has: the search reads the last pages and refuses (the profile's own
# titles would fall back to free space on the last page)
SEARCH = "/v1/sign/pdf?profile=approved&anchor=" + quote("PHÓ CHỦ TỊCH")


def status_kb(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:  # the process ended
        pass
    return 0


def workers_of(pid: int) -> list[int]:
    found = []
    for child in psutil.Process(pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.Error:
            pass
    return found


@dataclass
class Watch:
    """The health check's latencies and the workers' peak while a phase runs."""

    url: str
    daemon: int
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    daemon_peak_kb: int = 0
    worker_peak_kb: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Watch:
        for pid in (self.daemon, *workers_of(self.daemon)):
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peaks count from now
        self._threads = [threading.Thread(target=self._health), threading.Thread(target=self._workers)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.daemon_peak_kb = status_kb(self.daemon, "VmHWM")

    def _health(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                ok = call("GET", f"{self.url}/v1/health", timeout=30).status == 200
            except OSError:
                ok = False
            if ok:
                self.latencies.append(time.perf_counter() - started)
            else:
                self.failures += 1
            self._stop.wait(SAMPLE_S)

    def _workers(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            for pid in workers_of(self.daemon):
                self.worker_peak_kb = max(self.worker_peak_kb, status_kb(pid, "VmHWM"))

    def health(self) -> str:
        if not self.latencies:
            return f"no answer ({self.failures} failed)"
        return (f"median {1000 * statistics.median(self.latencies):.1f} ms, max {1000 * max(self.latencies):.1f} ms"
                f" over {len(self.latencies)} calls, {self.failures} failed")


def concurrently(requests: dict[str, Callable[[], Reply]]) -> dict[str, str]:
    answers: dict[str, str] = {}

    def run(name: str, request: Callable[[], Reply]) -> None:
        started = time.monotonic()
        try:
            reply = request()
            answers[name] = f"{reply.status} {reply.code or ''} in {time.monotonic() - started:.1f} s"
        except OSError as exc:
            answers[name] = f"no reply ({exc})"

    threads = [threading.Thread(target=run, args=item) for item in requests.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(sorted(answers.items()))


def mb(kb: int) -> str:
    return f"{kb / 1024:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=6)
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=4_500_000)
    parser.add_argument("--bomb-mb", type=int, default=1024)
    parser.add_argument("--big-mb", type=float, default=85)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    ensure_tokens()
    pages, table, bomb, big = (many_pages(args.pages), huge_table(args.entries), flate_bomb(args.bomb_mb),
                               scanned(args.big_mb))
    print(f"documents: {args.pages} pages {len(pages) / 1e6:.1f} MB; table of {args.entries} entries "
          f"{len(table) / 1e6:.1f} MB; bomb {len(bomb) / 1e6:.1f} MB -> {args.bomb_mb} MB; "
          f"scan {len(big) / 1e6:.1f} MB")

    with serving(Path(os.environ["SIGNER_CONFIG"]).read_text(), "signer-hostile-") as (url, token, pid):
        def post(path: str, data: bytes) -> Callable[[], Reply]:
            headers = {**token, "Content-Type": "application/pdf"}
            return lambda: call("POST", f"{url}{path}", headers=headers, body=data, timeout=900)

        with Watch(url, pid) as idle:
            while len(idle.latencies) + idle.failures < args.samples:
                time.sleep(SAMPLE_S)
        print(f"idle     daemon peak {mb(idle.daemon_peak_kb)}; health {idle.health()}")

        with Watch(url, pid) as signing:
            answer = concurrently({"sign": post("/v1/sign/pdf?profile=plain", big)})["sign"]
        print(f"{args.big_mb:g} MB   daemon peak {mb(signing.daemon_peak_kb)}, worker peak "
              f"{mb(signing.worker_peak_kb)} (target: each under 512 MB); {answer}")

        hostile = {"verify table": post("/v1/verify/pdf", table), "sign table": post("/v1/sign/pdf", table),
                   "sign bomb": post("/v1/sign/pdf?profile=approved", bomb)}
        hostile.update({f"search {n + 1}": post(SEARCH, pages)
                        for n in range(args.searches)})
        with Watch(url, pid) as loaded:
            answers = concurrently(hostile)
        ratio_peak = loaded.daemon_peak_kb / idle.daemon_peak_kb
        ratio_health = statistics.median(loaded.latencies) / statistics.median(idle.latencies)
        ratio_max = max(loaded.latencies) / max(idle.latencies)
        print(f"hostile  daemon peak {mb(loaded.daemon_peak_kb)} (x{ratio_peak:.2f} idle); health {loaded.health()} "
              f"(median x{ratio_health:.2f}, max x{ratio_max:.2f} idle); workers' peak {mb(loaded.worker_peak_kb)}")
        held = 2 * len(table) + len(bomb) + args.searches * len(pages)
        print(f"         (the request bodies the daemon holds meanwhile: {held / 2**20:.0f} MB)")
        for name, answer in answers.items():
            print(f"         {name}: {answer}")

        for _ in range(args.searches):
            threading.Thread(target=post(SEARCH, pages), daemon=True).start()
        deadline = time.monotonic() + 60
        while len(workers_of(pid)) < 2 and time.monotonic() < deadline:
            time.sleep(SAMPLE_S)
        time.sleep(2)  # the workers are reading
        sent = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        daemon = psutil.Process(pid)
        while daemon.status() != psutil.STATUS_ZOMBIE and time.monotonic() - sent < 60:
            time.sleep(0.01)
        print(f"stop     the daemon ended {time.monotonic() - sent:.2f} s after SIGTERM with {args.searches} "
              f"searches running (target: 5 s)")


if __name__ == "__main__":
    main()
