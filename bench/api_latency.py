"""Latency of POST /v1/sign/pdf (one-page PDF) beside the engine called in-process.

    python bench/api_latency.py [--requests N]

Starts `signer serve` on free loopback ports with the development tokens, sends
requests with the local API token at concurrency 1 and 8, then runs the engine's
``sign_pdf`` in this process at the same concurrency. Prints median and p99 of
each and the API's overhead as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sign_single import REPO, ensure_tokens  # noqa: E402

DOCUMENT = (REPO / "fixtures" / "documents" / "libreoffice.pdf").read_bytes()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def measure(one, requests: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def timed() -> None:
        async with gate:
            start = time.perf_counter()
            await one()
            latencies.append((time.perf_counter() - start) * 1000)

    await asyncio.gather(*(timed() for _ in range(requests)))
    return latencies


def start_daemon(folder: Path) -> tuple[subprocess.Popen, int, str]:
    config = folder / "signer.toml"
    text = Path(os.environ["SIGNER_CONFIG"]).read_text()
    if "[server]\n" not in text:
        text += "\n[server]\n"
    config.write_text(text.replace("[server]\n", f"""[server]
tls_dir = "{folder / 'tls'}"
state_dir = "{folder / 'state'}"
api_token_file = "{folder / 'api-token'}"
""") + "\n[limits]\nrate_per_second = 100000\nrate_burst = 100000\n")
    process = subprocess.Popen([sys.executable, "-m", "signer", "serve", "--config", str(config), "--port", "0",
                                "--tls-port", "0"], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    port = int(line.split("http://127.0.0.1:")[1].split()[0])
    return process, port, (folder / "api-token").read_text().strip()


async def api_round(port: int, token: str, requests: int, concurrency: int) -> list[float]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"}
    async with aiohttp.ClientSession() as session:
        async def one() -> None:
            async with session.post(f"http://127.0.0.1:{port}/v1/sign/pdf", data=DOCUMENT, headers=headers) as r:
                assert r.status == 200, await r.text()
                await r.read()

        await one()  # warm-up: login, certificate loading
        return await measure(one, requests, concurrency)


async def engine_round(requests: int, concurrency: int) -> list[float]:
    from signer.config import load_settings
    from signer.engine.pdf import sign_pdf
    from signer.keys import KeyStore

    with KeyStore(load_settings()) as store:
        key = await asyncio.to_thread(store.signing_key, None)

        async def one() -> None:
            await sign_pdf(DOCUMENT, key)

        await one()
        return await measure(one, requests, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=120)
    args = parser.parse_args()
    ensure_tokens()
    with tempfile.TemporaryDirectory(prefix="signer-bench-api-") as tmp:
        process, port, token = start_daemon(Path(tmp))
        try:
            api = {c: asyncio.run(api_round(port, token, args.requests, c)) for c in (1, 8)}
        finally:
            process.terminate()
            process.wait(60)
    engine = {c: asyncio.run(engine_round(args.requests, c)) for c in (1, 8)}
    print(f"{'concurrency':<12}{'engine p50 ms':>14}{'API p50 ms':>12}{'ratio':>7}"
          f"{'engine p99 ms':>15}{'API p99 ms':>12}{'ratio':>7}")
    for c in (1, 8):
        e50, a50 = statistics.median(engine[c]), statistics.median(api[c])
        e99, a99 = percentile(engine[c], 0.99), percentile(api[c], 0.99)
        print(f"{c:<12}{e50:>14.1f}{a50:>12.1f}{a50 / e50:>6.2f}x{e99:>15.1f}{a99:>12.1f}{a99 / e99:>6.2f}x")


if __name__ == "__main__":
    main()
