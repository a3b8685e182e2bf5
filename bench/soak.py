"""Soak: 10,000 signatures through a running daemon's API; its memory and descriptors over time.

    python bench/soak.py [--count N] [--every K] [--concurrency C] [--batch-size B]

Starts ``signer serve`` on free loopback ports with the development tokens and signs
unattended with the local API token: half of the documents one by one (``POST
/v1/sign/pdf``, C at a time), half in batches of B (``POST /v1/batches``, then each signed
document fetched as a client does), mixed sizes (one page, ten pages, and a few-MB scanned
page every 50th). It prints the daemon's resident memory (VmRSS) and open file
descriptors (/proc/PID/fd), and the resident memory of its child processes (the batch
document workers), at the start, after the first K signatures and every K after, each
beside its value after the first K as a ratio. Target: resident memory after N within
10 % of after the first K (the first K warm the caches, log in, start the workers);
descriptors flat.

Uses SIGNER_CONFIG / SOFTHSM2_CONF when set; otherwise creates development tokens in a
temporary folder with softhsm-setup.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

from batch import one_page_pdfs, serving  # noqa: E402
from batch_memory import big_pdf  # noqa: E402
from sign_single import ensure_tokens  # noqa: E402

BIG_EVERY = 50  # one document in this many is the few-MB scan
BIG_MB = 3.0
RSS_TARGET = 1.10


@dataclass(frozen=True)
class Sample:
    signed: int
    seconds: float
    daemon_mb: float
    workers_mb: float
    workers: int
    descriptors: int


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def sample(pid: int, signed: int, started: float) -> Sample:
    workers = []
    for child in children(pid):
        try:
            workers.append(status_kb(child, "VmRSS"))
        except FileNotFoundError:  # a worker that stopped meanwhile
            continue
    return Sample(signed, time.monotonic() - started, status_kb(pid, "VmRSS") / 1024, sum(workers) / 1024,
                  len(workers), len(list(Path(f"/proc/{pid}/fd").iterdir())))


class Documents:
    """The mix, in a fixed order: mostly one page, every fourth ten pages, every 50th a scan."""

    def __init__(self) -> None:
        self.one_page = one_page_pdfs(20)
        self.ten_pages = (REPO / "fixtures" / "documents" / "reportlab-10-pages.pdf").read_bytes()
        self.big = big_pdf(BIG_MB)
        self.position = itertools.count()

    def next(self) -> bytes:
        n = next(self.position)
        if n % BIG_EVERY == BIG_EVERY - 1:
            return self.big
        if n % 4 == 3:
            return self.ten_pages
        return self.one_page[n % len(self.one_page)]


def batch_body(documents: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{i}.pdf"\r\n'
             f"Content-Type: application/pdf\r\n\r\n".encode() + data + b"\r\n" for i, data in enumerate(documents)]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Client:
    def __init__(self, session: aiohttp.ClientSession, url: str, token: dict[str, str]) -> None:
        self.session, self.url, self.token = session, url, token

    async def sign_one(self, document: bytes) -> None:
        async with self.session.post(f"{self.url}/v1/sign/pdf", data=document,
                                     headers={**self.token, "Content-Type": "application/pdf"}) as reply:
            body = await reply.read()
            assert reply.status == 200 and body.startswith(b"%PDF"), (reply.status, body[:300])

    async def sign_batch(self, documents: list[bytes]) -> None:
        body, content_type = batch_body(documents)
        async with self.session.post(f"{self.url}/v1/batches?level=B-B", data=body,
                                     headers={**self.token, "Content-Type": content_type}) as reply:
            created = await reply.json()
            assert reply.status == 201, created
        while True:
            async with self.session.get(f"{self.url}/v1/batches/{created['id']}", headers=self.token) as reply:
                status = await reply.json()
            if status["state"] not in ("pending", "running"):
                break
            await asyncio.sleep(0.1)
        assert status["done"] == len(documents), status
        for index in range(len(documents)):
            async with self.session.get(f"{self.url}/v1/batches/{created['id']}/items/{index}",
                                        headers=self.token) as reply:
                signed = await reply.read()
                assert reply.status == 200 and signed.startswith(b"%PDF"), (reply.status, signed[:300])


async def sign(client: Client, documents: Documents, count: int, concurrency: int, batch_size: int) -> None:
    """``count`` signatures: alternately ``batch_size`` one by one (``concurrency`` at a time) and one batch."""
    gate = asyncio.Semaphore(concurrency)

    async def one(document: bytes) -> None:
        async with gate:
            await client.sign_one(document)

    left = count
    while left:
        singles = [documents.next() for _ in range(min(batch_size, left))]
        await asyncio.gather(*(one(d) for d in singles))
        left -= len(singles)
        if left:
            batch = [documents.next() for _ in range(min(batch_size, left))]
            await client.sign_batch(batch)
            left -= len(batch)


async def soak(url: str, token: dict[str, str], pid: int, args: argparse.Namespace) -> list[Sample]:
    documents = Documents()
    started = time.monotonic()
    samples = [sample(pid, 0, started)]
    print_header()
    print_sample(samples[0], None)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = Client(session, url, token)
        signed = 0
        while signed < args.count:
            step = min(args.every, args.count - signed)
            await sign(client, documents, step, args.concurrency, args.batch_size)
            signed += step
            samples.append(sample(pid, signed, started))
            print_sample(samples[-1], samples[1])
    return samples


def slope(samples: list[Sample]) -> float:
    """Least-squares slope of the daemon's resident memory, MB per signature."""
    xs, ys = [s.signed for s in samples], [s.daemon_mb for s in samples]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return (sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
            / sum((x - mean_x) ** 2 for x in xs))


def print_header() -> None:
    print(f"{'signed':>7}{'time s':>8}{'daemon MB':>11}{'ratio':>7}{'workers MB':>12}{'n':>3}{'total MB':>10}"
          f"{'ratio':>7}{'fds':>6}{'ratio':>7}")


def print_sample(s: Sample, base: Sample | None) -> None:
    """One line; the ratios are to the values after the first measurement step (none at the start)."""

    def ratio(value: float, reference: float | None) -> str:
        return f"{value / reference:>6.2f}x" if reference else f"{'-':>7}"

    total = s.daemon_mb + s.workers_mb
    print(f"{s.signed:>7}{s.seconds:>8.0f}{s.daemon_mb:>11.1f}{ratio(s.daemon_mb, base and base.daemon_mb)}"
          f"{s.workers_mb:>12.1f}{s.workers:>3}{total:>10.1f}"
          f"{ratio(total, base and base.daemon_mb + base.workers_mb)}"
          f"{s.descriptors:>6}{ratio(s.descriptors, base and base.descriptors)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="signatures in all")
    parser.add_argument("--every", type=int, default=1_000, help="signatures between two measurements")
    parser.add_argument("--concurrency", type=int, default=4, help="single requests at once")
    parser.add_argument("--batch-size", type=int, default=50, help="documents per batch")
    args = parser.parse_args()
    ensure_tokens()

    from signer.config import load_settings

    config = Path(load_settings().path).read_text() + "\n[limits]\nrate_per_second = 100000\nrate_burst = 100000\n"
    with serving(config, "signer-bench-soak-") as (url, token, pid):
        samples = asyncio.run(soak(url, token, pid, args))
    first, last = samples[1], samples[-1]
    rss = (last.daemon_mb + last.workers_mb) / (first.daemon_mb + first.workers_mb)
    daemon_rss = last.daemon_mb / first.daemon_mb
    print(f"after {last.signed} signatures: daemon RSS {daemon_rss:.2f}x, with its workers {rss:.2f}x the value "
          f"after the first {first.signed} (target: at most {RSS_TARGET:.2f}x); descriptors "
          f"{first.descriptors} -> {last.descriptors}")
    if len(samples) > 3:  # a leak is a trend; the allocator's ups and downs are not
        print(f"trend after the first {first.signed}: daemon RSS {slope(samples[1:]) * 1000:+.2f} MB per 1,000 "
              f"signatures (least squares over {len(samples) - 1} measurements)")


if __name__ == "__main__":
    main()
