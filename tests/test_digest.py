"""Raw signatures over a given SHA-256 digest, checked with openssl pkeyutl."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from pathlib import Path

import pytest
from conftest import DevEnv

from signer.engine.digest import sign_digest
from signer.errors import SignerError


def test_openssl_verifies_digest_signature(leader_key, dev_env: DevEnv, tmp_path: Path) -> None:
    message = "Tờ trình số 45/TTr-UBND".encode()
    digest = hashlib.sha256(message).digest()
    signature = asyncio.run(sign_digest(digest, leader_key))
    (tmp_path / "sig.bin").write_bytes(signature)
    (tmp_path / "digest.bin").write_bytes(digest)
    pubkey = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in",
                             str(dev_env.dir / "pki" / "certs" / "leader.cert.pem")],
                            capture_output=True, check=True).stdout
    (tmp_path / "pub.pem").write_bytes(pubkey)
    done = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"),
         "-pkeyopt", "digest:sha256", "-in", str(tmp_path / "digest.bin"), "-sigfile", str(tmp_path / "sig.bin")],
        capture_output=True, text=True,
    )
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout, done.stderr

    (tmp_path / "digest.bin").write_bytes(hashlib.sha256(message + b"!").digest())
    tampered = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"),
         "-pkeyopt", "digest:sha256", "-in", str(tmp_path / "digest.bin"), "-sigfile", str(tmp_path / "sig.bin")],
        capture_output=True, text=True,
    )
    assert tampered.returncode != 0


def test_digest_of_wrong_length_is_refused(leader_key) -> None:
    with pytest.raises(SignerError) as caught:
        asyncio.run(sign_digest(b"\x00" * 20, leader_key))
    assert caught.value.code == "DOCUMENT_INVALID"
