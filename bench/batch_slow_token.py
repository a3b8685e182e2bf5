"""A slow token: does the batch keep it busy? RSA-8192 on SoftHSM (about 45 ms a signature).

    python bench/batch_slow_token.py [--docs N] [--rounds R]

Adds an RSA-8192 key (label ``slow``, generated on the clerk's development token with
python-pkcs11; about half a minute, once) with a certificate from the test CA. Baseline: the median time of
one raw signature with that key (python-pkcs11, C_Sign), measured just before and just
after the batch (the mean of the two). Ours: N one-page PDFs through
``POST /v1/batches`` with that key, from the upload to the batch being done (after a
two-document warm-up batch: login, certificate check, worker processes started).
Target: within 1.15 x N x the median single signature, i.e. the token never waits for
the PDF work. On SoftHSM the "token" is this machine's CPU, shared with the PDF work and
with whatever else the machine runs, so each round measures its own baseline and the
median of the rounds' ratios is reported, with the share of the batch the token spent
signing (its signatures as timed in the daemon, from ``signer serve -v``'s log): that
share is what "the token never waits" means, whatever the machine's speed.

The certificate names no OCSP or CRL service, so the daemon runs with soft-fail here.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

from batch import one_page_pdfs, serving, upload_body, wait_done, warm_up  # noqa: E402
from sign_single import ensure_tokens  # noqa: E402

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN, PIN, KEY_ID = "Token VP UBND Ha Noi", "87654321", "5107"


def ensure_slow_key(dev: Path) -> None:
    """The RSA-8192 key and its certificate on the clerk's development token (made once)."""
    import pkcs11
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from pkcs11 import Attribute, KeyType, ObjectClass

    key_id = bytes.fromhex(KEY_ID)
    token = pkcs11.lib(MODULE).get_token(token_label=TOKEN)
    with token.open(user_pin=PIN, rw=True) as session:
        if list(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.ID: key_id})):
            return
        publics = list(session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: key_id}))
        if publics:
            public = publics[0]
        else:  # about half a minute on SoftHSM
            public, _ = session.generate_keypair(KeyType.RSA, 8192, id=key_id, label="slow", store=True)
        public_key = rsa.RSAPublicNumbers(int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
                                          int.from_bytes(public[Attribute.MODULUS], "big")).public_key()
        issuer = x509.load_pem_x509_certificate((dev / "pki" / "certs" / "interm.cert.pem").read_bytes())
        ca_key = serialization.load_pem_private_key((dev / "pki" / "keys" / "interm.key.pem").read_bytes(), None)
        now = datetime.now(timezone.utc)
        certificate = (x509.CertificateBuilder()
                       .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                                                x509.NameAttribute(NameOID.COMMON_NAME, "Khóa ký chậm RSA-8192")]))
                       .issuer_name(issuer.subject).public_key(public_key)
                       .serial_number(x509.random_serial_number())
                       .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
                       .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), True)
                       .sign(ca_key, hashes.SHA256()))
        session.create_object({
            Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
            Attribute.TOKEN: True, Attribute.ID: key_id, Attribute.LABEL: "slow",
            Attribute.SUBJECT: certificate.subject.public_bytes(),
            Attribute.VALUE: certificate.public_bytes(serialization.Encoding.DER)})


def median_signature_s(rounds: int = 15) -> float:
    import pkcs11
    from pkcs11 import Mechanism, ObjectClass

    token = pkcs11.lib(MODULE).get_token(token_label=TOKEN)
    with token.open(user_pin=PIN) as session:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=bytes.fromhex(KEY_ID))
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            key.sign(bytes(51), mechanism=Mechanism.RSA_PKCS)  # a SHA-256 DigestInfo's size
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ensure_tokens()

    from http_client import call

    from signer.config import load_settings

    settings = load_settings()
    dev = Path(settings.path).parent
    ensure_slow_key(dev)
    body, content_type = upload_body(one_page_pdfs(args.docs))
    config = Path(settings.path).read_text().replace('policy = "hard-fail"', 'policy = "soft-fail"')
    rounds = []
    log = Path(tempfile.mkdtemp(prefix="signer-bench-slow-log-")) / "serve.log"
    with serving(config, "signer-bench-slow-", log) as (url, token, _):
        warm_up(url, token, "slow")
        for _ in range(args.rounds):
            before = median_signature_s()
            start = time.perf_counter()
            created = call("POST", f"{url}/v1/batches?cert=slow&level=B-B",
                           headers={**token, "Content-Type": content_type}, body=body)
            assert created.status == 201, created.body
            # polled within the daemon's rate limit: at most 0.1 s added to a batch of seconds
            status = wait_done(url, created.json()["id"], token, 0.1)
            elapsed = time.perf_counter() - start
            assert status["done"] == args.docs, status
            median = (before + median_signature_s()) / 2  # just before and after: the machine's speed drifts
            token_s = token_busy_s(log, created.json()["id"])
            rounds.append((median, elapsed, elapsed / (args.docs * median), token_s))
    print(f"{args.docs} one-page PDFs, RSA-8192 on SoftHSM, {args.rounds} rounds")
    print(f"{'round':<8}{'median C_Sign':>15}{'N x median':>13}{'ours':>10}{'ratio':>9}"
          f"{'token signing':>16}{'token busy':>12}")
    for index, (median, elapsed, ratio, token_s) in enumerate(rounds, 1):
        print(f"{index:<8}{median * 1000:>12.1f} ms{args.docs * median:>11.2f} s{elapsed:>8.2f} s{ratio:>9.3f}"
              f"{token_s:>14.2f} s{token_s / elapsed:>11.1%}")
    print(f"{'ratio, median of the rounds (ours / N x median)':<52}{statistics.median(r[2] for r in rounds):>7.3f}"
          f"   (target: at most 1.15)")
    print(f"{'the token signing, share of the batch (median)':<52}"
          f"{statistics.median(r[3] / r[1] for r in rounds):>7.1%}   (its signatures as timed in the daemon)")


def token_busy_s(log: Path, batch_id: str) -> float:
    """The time the daemon's token worker spent in C_Sign for the batch (its debug log)."""
    for line in log.read_text().splitlines():
        if "batch_signed" in line and batch_id in line:
            return float(re.search(r"token_s=([0-9.]+)", line).group(1))
    raise AssertionError(f"no batch_signed line for {batch_id} in {log}")


if __name__ == "__main__":
    main()
