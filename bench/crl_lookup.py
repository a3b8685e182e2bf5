"""A national-size CRL: 1,000,000 entries signed by the test CA; load once, then look up.

    python bench/crl_lookup.py [--entries N] [--lookups M]

Ours: ``RevocationStore.store_crl`` (signature check, one parse, the index written
beside the CRL), then ``CrlIndex.lookup`` on the memory-mapped index. Baselines,
in the same run: what pyhanko-certvalidator does with a CRL (asn1crypto parses it
and scans the entries for the serial, per validation), and cryptography's
``get_revoked_certificate_by_serial_number`` on a CRL it has loaded. The slow
baseline is timed on a few lookups only; per-lookup times are compared.
Memory: the process's resident size after loading, and its peak.

The CA key comes from a development folder made with softhsm-setup.sh (a temporary
one unless DIR is given with --dev).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from asn1crypto import algos  # noqa: E402
from asn1crypto import crl as asn1_crl  # noqa: E402
from asn1crypto import x509 as asn1_x509  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from signer.validation.store import RevocationStore  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes(
        (n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + body


def build_crl(dev: Path, entries: int) -> tuple[bytes, x509.Certificate, list[int]]:
    """DER written directly (a CRL builder adding a million entries one by one is quadratic)."""
    key = serialization.load_pem_private_key((dev / "pki" / "keys" / "interm.key.pem").read_bytes(), None)
    issuer = x509.load_pem_x509_certificate((dev / "pki" / "certs" / "interm.cert.pem").read_bytes())
    now = datetime.now(timezone.utc).replace(microsecond=0)
    when = _tlv(0x17, (now - timedelta(days=1)).strftime("%y%m%d%H%M%SZ").encode())
    serials = [10**15 + 7919 * i for i in range(entries)]
    body = b"".join(_tlv(0x30, _tlv(0x02, s.to_bytes((s.bit_length() + 8) // 8, "big")) + when) for s in serials)
    algorithm = algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"}).dump()
    name = asn1_x509.Certificate.load(issuer.public_bytes(serialization.Encoding.DER)).subject.dump()
    number = _tlv(0xA0, _tlv(0x30, _tlv(0x30, _tlv(0x06, bytes.fromhex("551d14")) + _tlv(0x04, _tlv(0x02, b"\x07")))))
    tbs = _tlv(0x30, _tlv(0x02, b"\x01") + algorithm + name + _tlv(0x17, now.strftime("%y%m%d%H%M%SZ").encode())
               + _tlv(0x17, (now + timedelta(days=7)).strftime("%y%m%d%H%M%SZ").encode())
               + _tlv(0x30, body) + number)
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature)), issuer, serials


def development_folder(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    target = Path(tempfile.mkdtemp(prefix="signer-bench-crl-"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    subprocess.run([str(REPO / "softhsm-setup.sh"), str(target), "--no-services"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--baseline-lookups", type=int, default=3)
    parser.add_argument("--dev", help="a development folder made by softhsm-setup.sh")
    args = parser.parse_args()
    dev = development_folder(args.dev)

    started = time.perf_counter()
    der, issuer, serials = build_crl(dev, args.entries)
    print(f"CRL: {args.entries:,} entries, {len(der) / 2**20:.1f} MB, built in {time.perf_counter() - started:.1f} s")
    before = rss_mb()
    wanted = [random.choice(serials) if i % 2 else random.randrange(1, 10**15) for i in range(args.lookups)]

    with tempfile.TemporaryDirectory() as cache:
        store = RevocationStore(Path(cache))
        started = time.perf_counter()
        stored = store.store_crl(der, issuer)
        first_load = time.perf_counter() - started
        index_mb = stored.index.path.stat().st_size / 2**20
        started = time.perf_counter()
        reopened = RevocationStore(Path(cache)).latest_crl(issuer)
        reopen = time.perf_counter() - started
        started = time.perf_counter()
        found = sum(1 for s in wanted if reopened.index.lookup(s) is not None)
        ours_lookup = (time.perf_counter() - started) / len(wanted)
        after_load = rss_mb()
        peak_ours = peak_mb()

    started = time.perf_counter()
    loaded = x509.load_der_x509_crl(der)
    crypto_load = time.perf_counter() - started
    sample = wanted[: min(1000, len(wanted))]
    started = time.perf_counter()
    crypto_found = sum(1 for s in sample if loaded.get_revoked_certificate_by_serial_number(s) is not None)
    crypto_lookup = (time.perf_counter() - started) / len(sample)
    del loaded

    slow = wanted[: args.baseline_lookups]
    started = time.perf_counter()
    for serial in slow:  # what a validation does with a CRL it is handed: parse and scan
        crl = asn1_crl.CertificateList.load(der)
        any(entry["user_certificate"].native == serial for entry in crl["tbs_cert_list"]["revoked_certificates"])
    asn1_lookup = (time.perf_counter() - started) / len(slow)

    print(f"first load (verify, parse once, write index): {first_load:.2f} s; index {index_mb:.1f} MB; "
          f"reopen {reopen * 1000:.2f} ms")
    print(f"lookups: {len(wanted):,} ({found:,} revoked), ours {ours_lookup * 1e6:.2f} µs each")
    print(f"baseline cryptography (loaded in {crypto_load:.2f} s, held in memory): {crypto_lookup * 1e6:.1f} µs "
          f"each ({crypto_found} of {len(sample)} revoked) -> ours is {crypto_lookup / ours_lookup:,.0f}x faster")
    print(f"baseline asn1crypto parse + scan per validation (pyhanko-certvalidator): {asn1_lookup:.2f} s each "
          f"-> ours is {asn1_lookup / ours_lookup:,.0f}x faster")
    print(f"memory: resident {before:.0f} MB before loading (the CRL being built), {after_load:.0f} MB after "
          f"ours; peak {peak_ours:.0f} MB up to ours, {peak_mb():.0f} MB with the baselines' parses")
    assert ours_lookup < 1e-3, "a lookup must take under a millisecond"


if __name__ == "__main__":
    main()
