"""A document over the memory budget: how long a document worker takes to refuse it.

    python bench/memory_overrun.py [--entries 1500000] [--memory-mb 200] [--rounds 3]

A one-page document whose cross-reference table has --entries entries (about 250 MB per million
to read) is sent to a document worker started as the daemon starts them (spawned, with the
budget's memory limit, RLIMIT_DATA), for the ``inspect`` task a signature begins with. Ours: the
worker as it is (one malloc arena). Baseline, in the same run: the same worker keeping glibc's
default arenas, where an allocation the limit refuses is retried in another arena, a few system
calls each, and the reading creeps on (the CPU budget's signal may not even get through: its
handler cannot allocate) until the pool's wall-clock deadline kills the worker, as here. The
CPU budget and the deadline are the packaged ones. Rounds alternate the two.
Target: ours refused with the memory overrun within a tenth of the CPU budget. Linux.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from heavy_pdfs import huge_table  # noqa: E402

from policies.limits import load_limits  # noqa: E402
from signer.engine.budget import ReadBudget  # noqa: E402
from signer.engine.options import PdfSignOptions  # noqa: E402
from signer.service.documents import worker  # noqa: E402


def serve_with_default_arenas(conn, budget: worker.Budget, level: int) -> None:
    """The baseline worker: everything as ours but the arena setting."""
    worker._one_malloc_arena = lambda: None
    worker.serve(conn, budget, level)


def refusal(target, budget: worker.Budget, document: bytes) -> tuple[float, str]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(theirs, budget, logging.WARNING), daemon=True)
    process.start()
    theirs.close()
    worker.receive(ours)  # ready
    began = time.monotonic()
    worker.send(ours, ("inspect", {"options": PdfSignOptions()}), document)
    if ours.poll(budget.deadline_s):  # the pool's wall-clock bound
        (status, detail), _ = worker.receive(ours)
        answer = f"{status}: {detail[0] if isinstance(detail, tuple) else detail}"
    else:
        answer = f"no answer: killed at the {budget.deadline_s:g} s deadline"
    took = time.monotonic() - began
    process.kill()
    process.join()
    return took, answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_500_000)
    parser.add_argument("--memory-mb", type=float, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    document = huge_table(args.entries)
    limits = load_limits()
    budget = worker.Budget(limits.document_cpu_s, args.memory_mb, limits.document_deadline_s, ReadBudget.of(limits))
    print(f"a cross-reference table of {args.entries} entries ({len(document) / 1e6:.1f} MB); "
          f"budget {args.memory_mb:g} MB, {budget.cpu_s:g} s of processor time, "
          f"{budget.deadline_s:g} s deadline; {args.rounds} rounds")
    times: dict[str, list[float]] = {"baseline": [], "ours": []}
    for round_ in range(1, args.rounds + 1):
        for name, target in (("baseline", serve_with_default_arenas), ("ours", worker.serve)):
            took, answer = refusal(target, budget, document)
            times[name].append(took)
            print(f"round {round_}: {name:<8} {took:7.2f} s  {answer}", flush=True)
    baseline, ours = statistics.median(times["baseline"]), statistics.median(times["ours"])
    print(f"baseline (glibc's default arenas)   median {baseline:7.2f} s")
    print(f"ours (one arena)                    median {ours:7.2f} s")
    print(f"ratio (baseline / ours)             {baseline / ours:7.1f}x")
    passed = ours < budget.cpu_s / 10
    print(f"target: ours refused within a tenth of the CPU budget ({budget.cpu_s / 10:g} s): "
          f"{'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
