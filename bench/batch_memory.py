"""Memory of a large batch: 100 documents of 5 MB through ``POST /v1/batches``.

    python bench/batch_memory.py [--docs N] [--mb M]

Ours: a ``signer serve`` process receives the batch as one streamed multipart upload and
signs it; its peak resident size (VmHWM) is read from /proc at the end, and that of
each of its document preparation workers. Baseline, in the
same run: a naive process that holds the documents in memory and signs them with
pyHanko one by one on the same token. Target: under 300 MB for the daemon and its
worker processes together (the sum of their peaks).

Uses SIGNER_CONFIG / SOFTHSM2_CONF when set; otherwise creates development tokens in a
temporary folder with softhsm-setup.sh.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

from batch import leader_token, serving, wait_done  # noqa: E402
from sign_single import ensure_tokens  # noqa: E402

NAIVE = """
import io, os, sys, resource
from pathlib import Path
from pyhanko.config.pkcs11 import TokenCriteria
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session
module, label, folder = sys.argv[1:4]
pin = os.environ["BENCH_TOKEN_PIN"]  # not on the command line
documents = [p.read_bytes() for p in sorted(Path(folder).glob("*.pdf"))]
session = open_pkcs11_session(module, token_criteria=TokenCriteria(label=label), user_pin=pin)
pk_signer = PKCS11Signer(session, cert_label="leader", key_label="leader")
signed = []
for data in documents:
    meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    signed.append(signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), meta, signer=pk_signer).getvalue())
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def big_pdf(megabytes: float) -> bytes:
    """One page carrying an incompressible image of about ``megabytes``."""
    from PIL import Image
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    side = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    page.drawString(72, 800, "Ho so so hoa kem theo cong van")
    page.drawImage(ImageReader(image), 72, 200, width=450, height=450)
    page.showPage()
    page.save()
    return out.getvalue()


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[tuple[str, int]]:
    """The daemon's child processes: its document preparation workers, and the small
    process multiprocessing starts to clean up after them."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            found.append(("resource tracker" if b"resource_tracker" in command else "preparation worker", int(child)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--mb", type=float, default=5.0)
    args = parser.parse_args()
    ensure_tokens()

    from signer.config import load_settings

    settings = load_settings()
    module_path, token_label, pin, _ = leader_token(settings)

    folder = Path(tempfile.mkdtemp(prefix="signer-bench-memory-"))
    document = big_pdf(args.mb)
    inputs = folder / "inputs"
    inputs.mkdir()
    for index in range(args.docs):
        (inputs / f"{index:03d}.pdf").write_bytes(document)
    total_mb = len(document) * args.docs / 2**20

    naive = subprocess.run([sys.executable, "-c", NAIVE, module_path, token_label, str(inputs)],
                           capture_output=True, text=True, check=True, env={**os.environ, "BENCH_TOKEN_PIN": pin})
    baseline_mb = float(naive.stdout.strip())

    boundary = uuid.uuid4().hex
    body = folder / "upload.multipart"
    with body.open("wb") as out:
        for index in range(args.docs):
            out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{index}.pdf"\r\n'
                      f"Content-Type: application/pdf\r\n\r\n".encode() + document + b"\r\n")
        out.write(f"--{boundary}--\r\n".encode())

    with serving(Path(settings.path).read_text(), "signer-bench-memory-serve-") as (url, token, pid):
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=600)
        with body.open("rb") as stream:
            conn.request("POST", "/v1/batches?cert=leader&level=B-B", body=stream, headers={
                **token, "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(body.stat().st_size)})
            reply = conn.getresponse()
            created = reply.read()
        assert reply.status == 201, created
        status = wait_done(url, json.loads(created)["id"], token, 0.2)
        elapsed = time.perf_counter() - start
        ours_mb = peak_mb(pid)
        workers_mb = [(name, peak_mb(child)) for name, child in children(pid)]
    assert status["done"] == args.docs, status
    print(f"{args.docs} documents of {len(document) / 2**20:.1f} MB ({total_mb:.0f} MB in all), "
          f"signed in {elapsed:.1f} s")
    print(f"{'baseline (naive pyHanko loop, documents in memory)':<52}{baseline_mb:>8.0f} MB peak RSS")
    print(f"{'ours (signer serve, POST /v1/batches)':<52}{ours_mb:>8.0f} MB peak RSS")
    for name, worker_mb in workers_mb:
        print(f"{f'  its {name}':<52}{worker_mb:>8.0f} MB peak RSS")
    together = ours_mb + sum(mb for _, mb in workers_mb)
    print(f"{'  daemon and workers together (sum of peaks)':<52}{together:>8.0f} MB")
    print(f"{'ratio (together / baseline)':<52}{together / baseline_mb:>8.2f}   (target: under 300 MB together)")


if __name__ == "__main__":
    main()
