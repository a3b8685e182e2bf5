"""Batch throughput: 100 one-page PDFs through ``POST /v1/batches`` beside a naive pyHanko loop.

    python bench/batch.py [--docs N] [--rounds R]

Baseline: pyHanko's PKCS11Signer on the same SoftHSM token and, per document, a new
IncrementalPdfFileWriter and ``signers.sign_pdf``. Ours, end to end: a ``signer serve``
process, one multipart upload of all documents, status polling until the batch is done
(invisible B-B signatures on both sides, RSA-2048), after a two-document warm-up batch.
Rounds alternate baseline and ours; the best round of each counts.

Uses SIGNER_CONFIG / SOFTHSM2_CONF when set; otherwise creates development tokens in a
temporary folder with softhsm-setup.sh.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

from sign_single import ensure_tokens  # noqa: E402


def one_page_pdfs(count: int) -> list[bytes]:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    documents = []
    for index in range(count):
        out = io.BytesIO()
        page = canvas.Canvas(out, pagesize=A4)
        page.drawString(72, 760, f"Cong van so {index + 1}/UBND-VP")
        page.drawString(72, 740, "Kinh gui: cac so, ban, nganh; UBND cac quan, huyen, thi xa.")
        page.showPage()
        page.save()
        documents.append(out.getvalue())
    return documents


def upload_body(documents: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{i}.pdf"\r\n'
             f"Content-Type: application/pdf\r\n\r\n".encode() + data + b"\r\n" for i, data in enumerate(documents)]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@contextmanager
def serving(config_text: str, prefix: str, log: Path | None = None) -> Iterator[tuple[str, dict[str, str], int]]:
    """``signer serve`` on free ports with its own state: yields its URL, the API token
    header and its process id; stopped and its folder removed at the end. With ``log``: its
    debug log goes there."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    config = folder / "signer.toml"
    config.write_text(config_text.replace("[server]\n", f"""[server]
tls_dir = "{folder / 'tls'}"
state_dir = "{folder / 'state'}"
api_token_file = "{folder / 'api-token'}"
"""))
    verbose = ["-v"] if log else []
    process = subprocess.Popen([sys.executable, "-m", "signer", "serve", "--config", str(config),
                                "--port", "0", "--tls-port", "0", *verbose], stdout=subprocess.PIPE, text=True,
                               stderr=log.open("w") if log else None)
    try:
        port = int(process.stdout.readline().split("http://127.0.0.1:")[1].split()[0])
        token = {"Authorization": f"Bearer {(folder / 'api-token').read_text().strip()}"}
        yield f"http://127.0.0.1:{port}", token, process.pid
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def wait_done(url: str, batch_id: str, token: dict[str, str], poll_s: float) -> dict:
    from http_client import call

    while (status := call("GET", f"{url}/v1/batches/{batch_id}", headers=token).json())["state"] in (
            "pending", "running"):
        time.sleep(poll_s)
    return status


def leader_token(settings) -> tuple[str, str, str, list]:
    """The development token with the 'leader' key: module path, token label, PIN, CA chain."""
    from signer.keys import KeyStore

    with KeyStore(settings) as store:
        key = store.token_key("leader")
        token_label = next(t.label for t in store.tokens() if t.serial == key.ref.token_serial)
        return str(key.ref.module), token_label, settings.pin.development_pins[token_label], list(key.chain)


def warm_up(url: str, token: dict[str, str], cert: str = "leader") -> float:
    """A two-document batch first: a daemon's first batch logs in, checks the certificate's
    revocation and waits for its worker processes to start; a daemon runs all day, and the
    baseline's session is open before its clock starts too."""
    from http_client import call

    body, content_type = upload_body(one_page_pdfs(2))
    start = time.perf_counter()
    created = call("POST", f"{url}/v1/batches?cert={cert}&level=B-B", headers={**token, "Content-Type": content_type},
                   body=body)
    assert wait_done(url, created.json()["id"], token, 0.05)["done"] == 2
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ensure_tokens()

    from http_client import call
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    from signer.config import load_settings

    settings = load_settings()
    module_path, token_label, pin, chain = leader_token(settings)
    documents = one_page_pdfs(args.docs)
    body, content_type = upload_body(documents)

    def baseline() -> float:
        session = open_pkcs11_session(module_path, token_criteria=TokenCriteria(label=token_label), user_pin=pin)
        try:
            pk_signer = PKCS11Signer(session, cert_label="leader", key_label="leader", ca_chain=chain)
            start = time.perf_counter()
            for data in documents:
                meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha256",
                                                    subfilter=fields.SigSeedSubFilter.PADES)
                signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), meta, signer=pk_signer)
            return len(documents) / (time.perf_counter() - start)
        finally:
            session.close()

    def ours() -> float:
        with serving(Path(settings.path).read_text(), "signer-bench-batch-") as (url, token, _):
            cold.append(warm_up(url, token))
            start = time.perf_counter()
            created = call("POST", f"{url}/v1/batches?cert=leader&level=B-B",
                           headers={**token, "Content-Type": content_type}, body=body)
            uploaded.append(time.perf_counter() - start)
            status = wait_done(url, created.json()["id"], token, 0.02)
            elapsed = time.perf_counter() - start
        assert status["done"] == len(documents), status
        return len(documents) / elapsed

    uploaded: list[float] = []
    cold: list[float] = []
    base_best = ours_best = 0.0
    for _ in range(args.rounds):
        base_best = max(base_best, baseline())
        ours_best = max(ours_best, ours())
    print(f"{args.docs} one-page PDFs, RSA-2048 on SoftHSM")
    print(f"{'baseline (naive pyHanko loop)':<36}{base_best:>8.1f} docs/s")
    print(f"{'ours (POST /v1/batches, end to end)':<36}{ours_best:>8.1f} docs/s")
    print(f"{'ratio':<36}{ours_best / base_best:>8.2f}x  (target: at least 4x)")
    print(f"(of ours: the upload took {min(uploaded):.2f} s at best; the warm-up batch, first after the "
          f"daemon started, {min(cold):.2f} s)")


if __name__ == "__main__":
    main()
