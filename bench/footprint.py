"""Start-up time and memory of the signer CLI and daemon beside a bare ``python -c pass``.

    python bench/footprint.py [--signatures N] [--rounds R] [--clients C] [--idle-wait S]

All runs use this interpreter (sys.executable) and the ``signer`` console script next to
it, with this checkout first on PYTHONPATH. Rounds alternate the commands to spread
machine noise evenly; the best (fastest) round counts for the ratios, the median is shown
beside it. Measured: wall time of ``python -c pass`` (the baseline), ``signer --help``
(and, from ``-X importtime``, whether it imports pyHanko and how many modules),
``signer tokens``, and ``signer serve`` from process start to its first ``GET /v1/health``
answer; the peak RSS of the three commands, read by the process itself at exit. Then, on
one more daemon, the memory of every process of its tree, from /proc (VmRSS, peak VmHWM,
and PSS, which counts shared pages once): idle, after N signatures through
``POST /v1/sign/pdf``, after a batch through ``POST /v1/batches``, and after waiting for
the batch workers to go idle. Targets: ``signer --help`` at most 5x the baseline without
pyHanko; the idle daemon at most 70 MB in all. Reports only; asserts nothing.

Uses SIGNER_CONFIG / SOFTHSM2_CONF when set; otherwise creates development tokens in a
temporary folder with softhsm-setup.sh.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

from batch import serving, upload_body, wait_done  # noqa: E402
from http_client import call  # noqa: E402
from sign_single import ensure_tokens  # noqa: E402

SIGNER = Path(sys.executable).parent / "signer"
DOCUMENT = (REPO / "fixtures" / "documents" / "libreoffice.pdf").read_bytes()
SETTLE_S = 3.0  # "idle": at least this long after the health answer, and until the RSS is steady
BATCH_DOCUMENTS = 20
HELP_TARGET = 5.0
IDLE_TARGET_MB = 70.0


@dataclass
class Proc:
    pid: int
    label: str
    rss_mb: float
    peak_mb: float
    pss_mb: float  # shared pages divided among their users: the sum of RSS counts them once per process


# Reports the interpreter's peak RSS at exit, after running the script given (if any) as
# __main__. Read inside the process, as the parent's rusage cannot tell it: a child's
# ru_maxrss counts the memory of the process it was forked from, before its exec.
PEAK_AT_EXIT = """
import atexit, sys
def report():
    with open('/proc/self/status') as status:
        peak = next(line.split()[1] for line in status if line.startswith('VmHWM:'))
    sys.stderr.write(f'peak-kb {peak}\\n')
atexit.register(report)
if len(sys.argv) > 1:
    import runpy
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name='__main__')
"""


def wall_s(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {done.returncode}:\n{done.stderr.decode()}")
    return elapsed


def peak_mb(arguments: list[str]) -> float:
    """Peak RSS of this interpreter running the script ``arguments[0]`` (none: nothing)."""
    stderr = subprocess.run([sys.executable, "-c", PEAK_AT_EXIT, *arguments], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True).stderr
    return int(stderr.rsplit("peak-kb ", 1)[1].split()[0]) / 1024


def import_profile(command: list[str]) -> tuple[list[str], dict[str, float]]:
    """Modules first imported by ``command`` (``-X importtime``) and the import time in ms
    of each top-level package (the self time of all its modules)."""
    stderr = subprocess.run([sys.executable, "-X", "importtime", *command], capture_output=True, text=True,
                            check=True).stderr
    modules: list[str] = []
    packages: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        modules.append(name.strip())
        package = name.strip().split(".")[0]
        packages[package] = packages.get(package, 0.0) + int(own) / 1000
    return modules, packages


def serve_startup(config_text: str, then: Callable[[str, dict[str, str], int], None] | None = None) -> float:
    """``signer serve`` on free ports (bench/batch.py's helper) until its first health answer;
    ``then`` runs on the live daemon before it is stopped."""
    start = time.perf_counter()
    with serving(config_text, "signer-bench-footprint-") as (url, token, pid):
        while True:
            try:
                if call("GET", f"{url}/v1/health", timeout=5).status == 200:
                    break
            except OSError:  # not listening yet
                pass
            if time.perf_counter() - start > 120:
                raise SystemExit("signer serve gave no health answer within 120 s")
            time.sleep(0.005)
        wall = time.perf_counter() - start
        if then is not None:
            then(url, token, pid)
    return wall


def status_mb(pid: int) -> tuple[float, float, float]:
    """VmRSS, VmHWM and Pss of a process, in MB."""
    kb: dict[str, int] = {}
    for name in ("status", "smaps_rollup"):
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            key, _, value = line.partition(":")
            if value.endswith(" kB"):
                kb[key] = int(value.split()[0])
    return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024, kb["Pss"] / 1024


def process_tree(root: int) -> list[Proc]:
    """The daemon and all its descendants (parents found in /proc/*/stat)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        parents[int(stat.parent.name)] = int(text.rsplit(")", 1)[1].split()[1])
    found, tree = [root], []
    while found:
        pid = found.pop(0)
        found += sorted(child for child, parent in parents.items() if parent == pid)
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            rss, peak, pss = status_mb(pid)
        except OSError:
            continue
        if pid == root:
            label = "signer serve (the daemon)"
        elif "resource_tracker" in command:
            label = "multiprocessing resource tracker"
        elif "spawn_main" in command:
            label = "worker process (multiprocessing spawn)"
        else:
            label = command[:60]
        tree.append(Proc(pid, label, rss, peak, pss))
    return tree


def steady_tree(root: int, at_least_s: float, at_most_s: float = 30.0) -> tuple[list[Proc], float]:
    """The tree once its total RSS stops moving (workers may still be importing)."""
    start = time.perf_counter()
    time.sleep(at_least_s)
    tree = process_tree(root)
    while time.perf_counter() - start < at_most_s:
        time.sleep(1.0)
        previous, tree = tree, process_tree(root)
        if len(tree) == len(previous) and abs(total(tree) - total(previous)) < 0.5:
            break
    return tree, time.perf_counter() - start


def total(tree: list[Proc]) -> float:
    return sum(p.rss_mb for p in tree)


def show_tree(title: str, tree: list[Proc], baseline_mb: float, target: str = "") -> None:
    print(f"\n{title}")
    for p in tree:
        print(f"  pid {p.pid:<8}{p.label:<42}{p.rss_mb:>8.1f} MB RSS{p.peak_mb:>8.1f} MB peak"
              f"{p.pss_mb:>8.1f} MB PSS")
    together = total(tree)
    print(f"  {'total, ' + str(len(tree)) + ' processes':<54}{together:>8.1f} MB RSS{'':>16}"
          f"{sum(p.pss_mb for p in tree):>8.1f} MB PSS")
    print(f"  {'':<54}{together / baseline_mb:>8.1f}x the baseline's {baseline_mb:.1f} MB RSS{target}")


def memory_report(args: argparse.Namespace, baseline_mb: float, url: str, token: dict[str, str], pid: int) -> None:
    """The daemon's process tree: idle, after the signatures, after a batch, after waiting."""
    tree, waited = steady_tree(pid, SETTLE_S)
    show_tree(f"daemon idle, {waited:.0f} s after its health answer", tree, baseline_mb,
              f"   (target: at most {IDLE_TARGET_MB:.0f} MB in all)")

    headers = {**token, "Content-Type": "application/pdf"}

    def sign(_: int) -> None:
        reply = call("POST", f"{url}/v1/sign/pdf", headers=headers, body=DOCUMENT, timeout=300)
        if reply.status != 200:
            raise SystemExit(f"POST /v1/sign/pdf answered {reply.status}: {reply.body[:300]!r}")

    start = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(sign, range(args.signatures)))
    elapsed = time.perf_counter() - start
    show_tree(f"after {args.signatures} signatures (POST /v1/sign/pdf, {args.clients} clients, "
              f"{elapsed:.1f} s, {args.signatures / elapsed:.0f}/s)", process_tree(pid), baseline_mb)

    body, content_type = upload_body([DOCUMENT] * BATCH_DOCUMENTS)
    start = time.perf_counter()
    created = call("POST", f"{url}/v1/batches", headers={**token, "Content-Type": content_type}, body=body)
    if created.status != 201:
        raise SystemExit(f"POST /v1/batches answered {created.status}: {created.body[:300]!r}")
    status = wait_done(url, created.json()["id"], token, 0.1)
    elapsed = time.perf_counter() - start
    after_batch = process_tree(pid)
    show_tree(f"after a batch of {BATCH_DOCUMENTS} documents (POST /v1/batches, {elapsed:.1f} s, "
              f"{status.get('done')} done, state {status.get('state')})", after_batch, baseline_mb)

    # A worker idle timeout, if there is one, shows as fewer processes or a smaller total.
    start = time.perf_counter()
    tree = after_batch
    while time.perf_counter() - start < args.idle_wait:
        time.sleep(1.0)
        tree = process_tree(pid)
        if len(tree) < len(after_batch) or total(tree) < total(after_batch) - 5:
            break
    waited = time.perf_counter() - start
    show_tree(f"{waited:.0f} s after the batch (waited up to {args.idle_wait:.0f} s for fewer processes "
              f"or 5 MB less: {len(after_batch)} -> {len(tree)} processes, "
              f"{total(tree) - total(after_batch):+.1f} MB)", tree, baseline_mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signatures", type=int, default=1000, help="signatures through POST /v1/sign/pdf")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each command (best and median shown)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent API clients while signing")
    parser.add_argument("--idle-wait", type=float, default=60.0,
                        help="seconds to wait after the batch for its workers to go idle")
    args = parser.parse_args()
    ensure_tokens()
    # every child (console script, ``-m signer`` of the serve helper) imports this checkout
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    config_text = Path(os.environ["SIGNER_CONFIG"]).read_text()
    if "[server]\n" not in config_text:
        config_text += "\n[server]\n"
    # 1,000 signatures from one local client would otherwise meet the rate limit
    config_text += "\n[limits]\nrate_per_second = 100000\nrate_burst = 100000\n"

    commands: dict[str, Callable[[], float]] = {
        "python -c pass (baseline)": lambda: wall_s([sys.executable, "-c", "pass"]),
        "signer --help": lambda: wall_s([str(SIGNER), "--help"]),
        "signer tokens": lambda: wall_s([str(SIGNER), "tokens"]),
        "signer serve, to first /v1/health": lambda: serve_startup(config_text),
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, once in commands.items():
            times[name].append(once())
    peaks = {"python -c pass (baseline)": peak_mb([]), "signer --help": peak_mb([str(SIGNER), "--help"]),
             "signer tokens": peak_mb([str(SIGNER), "tokens"])}

    baseline_s, baseline_mb = min(times["python -c pass (baseline)"]), peaks["python -c pass (baseline)"]
    print(f"interpreter: {sys.executable}   console script: {SIGNER}")
    print(f"{args.rounds} rounds each; ratio = best / best of the baseline; peak RSS: VmHWM at exit, one run\n")
    print(f"{'command':<38}{'best ms':>9}{'median ms':>11}{'ratio':>8}{'peak RSS MB':>13}")
    for name, measured in times.items():
        best = min(measured)
        peak = f"{peaks[name]:>13.1f}" if name in peaks else f"{'-':>13}"
        target = f"   (target: at most {HELP_TARGET:.0f}x)" if name == "signer --help" else ""
        print(f"{name:<38}{best * 1000:>9.0f}{statistics.median(measured) * 1000:>11.0f}"
              f"{best / baseline_s:>7.1f}x{peak}{target}")

    base_modules, _ = import_profile(["-c", "pass"])
    modules, packages = import_profile([str(SIGNER), "--help"])
    pyhanko = any(m.split(".")[0] == "pyhanko" for m in modules)
    heaviest = sorted(packages.items(), key=lambda item: -item[1])[:5]
    print(f"\nsigner --help: imports pyhanko: {'yes' if pyhanko else 'no'} (target: no); "
          f"modules imported: {len(modules)} (baseline {len(base_modules)})")
    print("  slowest packages to import (-X importtime, which slows imports down): "
          + ", ".join(f"{name} {ms:.0f} ms" for name, ms in heaviest))

    serve_startup(config_text, lambda url, token, pid: memory_report(args, baseline_mb, url, token, pid))


if __name__ == "__main__":
    main()
