"""Documents per second: signer's PDF engine beside a naive pyHanko loop, same token, same run.

    python bench/sign_single.py [--docs N] [--rounds R]

Baseline: pyHanko's PKCS11Signer and, per document, a new IncrementalPdfFileWriter
and ``signers.sign_pdf`` (which sizes the signature with a dry run). Ours: the
engine's ``sign_pdf`` with a SigningKey reused across documents. Rounds alternate
baseline and ours to spread machine noise evenly; the best round of each counts.

Uses SIGNER_CONFIG / SOFTHSM2_CONF when set; otherwise creates development
tokens in a temporary folder with softhsm-setup.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = ("libreoffice.pdf", "reportlab-10-pages.pdf")


def ensure_tokens() -> None:
    """Development tokens and the test CA's responders (stopped again at exit)."""
    if os.environ.get("SIGNER_CONFIG") and os.environ.get("SOFTHSM2_CONF"):
        return
    target = Path(tempfile.mkdtemp(prefix="signer-bench-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               SIGNER_TEST_CA_PORT=str(port))
    setup = ["bash", str(REPO / "softhsm-setup.sh"), str(target)]
    atexit.register(shutil.rmtree, target, ignore_errors=True)  # registered first: runs after --stop
    subprocess.run([*setup, "--services"], check=True, capture_output=True, env=env)
    atexit.register(subprocess.run, [*setup, "--stop"], capture_output=True, env=env)
    os.environ["SOFTHSM2_CONF"] = str(target / "softhsm2.conf")
    os.environ["SIGNER_CONFIG"] = str(target / "signer.toml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=60, help="documents per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ensure_tokens()

    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    from signer.config import load_settings
    from signer.engine.pdf import reserved_size, sign_pdf
    from signer.keys import KeyStore

    settings = load_settings()
    store = KeyStore(settings)
    key = store.token_key("leader")
    token_label = next(t.label for t in store.tokens() if t.serial == key.ref.token_serial)
    pin = settings.pin.development_pins[token_label]
    module_path = key.ref.module
    reserved = reserved_size(key)

    def baseline(data: bytes, n: int) -> float:
        session = open_pkcs11_session(module_path, token_criteria=TokenCriteria(label=token_label), user_pin=pin)
        try:
            pk_signer = PKCS11Signer(session, cert_label="leader", key_label="leader",
                                     ca_chain=list(key.chain))
            start = time.perf_counter()
            for i in range(n):
                writer = IncrementalPdfFileWriter(io.BytesIO(data))
                meta = signers.PdfSignatureMetadata(field_name=f"Signature{i}", md_algorithm="sha256",
                                                    subfilter=fields.SigSeedSubFilter.PADES)
                signers.sign_pdf(writer, meta, signer=pk_signer)
            return n / (time.perf_counter() - start)
        finally:
            session.close()

    def ours(data: bytes, n: int) -> float:
        async def run() -> float:
            start = time.perf_counter()
            for _ in range(n):
                await sign_pdf(data, key, bytes_reserved=reserved)
            return n / (time.perf_counter() - start)

        try:
            return asyncio.run(run())
        finally:
            key.module.logout()  # let the baseline log in with its own session next round

    print(f"{'document':<26}{'baseline docs/s':>17}{'signer docs/s':>15}{'ratio':>8}")
    for sample in SAMPLES:
        data = (REPO / "fixtures" / "documents" / sample).read_bytes()
        base_best = ours_best = 0.0
        for _ in range(args.rounds):
            base_best = max(base_best, baseline(data, args.docs))
            ours_best = max(ours_best, ours(data, args.docs))
        print(f"{sample:<26}{base_best:>17.1f}{ours_best:>15.1f}{ours_best / base_best:>7.2f}x")
    store.close()


if __name__ == "__main__":
    main()
