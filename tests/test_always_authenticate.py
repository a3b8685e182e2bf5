"""Keys with CKA_ALWAYS_AUTHENTICATE: one login, then a PIN for every signature."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import DOCUMENTS, LEADER_PIN, DevEnv
from pdf_checks import assert_pdfsig_all_valid

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "Token Always Auth"

SCRIPT = r"""
import asyncio, json, sys
from pathlib import Path
from drivers.pins import DevelopmentPinSource
from signer.config import load_settings
from signer.engine.pdf import sign_pdf
from signer.keys import KeyStore

import threading, time
requests = []
open_prompts = [0, 0]  # now, most at once
lock = threading.Lock()
class Counting:
    def __init__(self, inner): self.inner = inner
    def pin_for(self, request):
        with lock:
            open_prompts[0] += 1
            open_prompts[1] = max(open_prompts[1], open_prompts[0])
        time.sleep(0.05)  # a person typing
        with lock:
            open_prompts[0] -= 1
        requests.append(request.per_signature)
        return self.inner.pin_for(request)

settings = load_settings()
pins = Counting(DevelopmentPinSource({"Token Always Auth": sys.argv[3]}, development=True))
with KeyStore(settings, pins=pins) as store:
    key = store.token_key("always")
    data = Path(sys.argv[1]).read_bytes()
    for n in range(2):
        Path(sys.argv[2] + f".{n}.pdf").write_bytes(asyncio.run(sign_pdf(data, key)).data)
    async def together():
        return await asyncio.gather(*(sign_pdf(data, key) for _ in range(4)))
    asyncio.run(together())
print(json.dumps({"requests": requests, "most_at_once": open_prompts[1]}))
"""


def add_always_auth_token(private_tokens: DevEnv, tmp_path: Path) -> None:
    """A token "Token Always Auth" with the leader's key, marked CKA_ALWAYS_AUTHENTICATE (label "always")."""
    env = private_tokens.env()
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", "0000000000",
                    "--pin", LEADER_PIN], check=True, capture_output=True, env=env)
    certs = private_tokens.dir / "pki"
    key_der = tmp_path / "key.der"
    cert_der = tmp_path / "cert.der"
    subprocess.run(["openssl", "pkey", "-in", str(certs / "keys" / "leader.key.pem"), "-outform", "DER",
                    "-out", str(key_der)], check=True)
    subprocess.run(["openssl", "x509", "-in", str(certs / "certs" / "leader.cert.pem"), "-outform", "DER",
                    "-out", str(cert_der)], check=True)
    common = ["pkcs11-tool", "--module", MODULE, "--token-label", TOKEN, "--login", "--pin", LEADER_PIN]
    subprocess.run([*common, "--write-object", str(key_der), "--type", "privkey", "--usage-sign",
                    "--always-auth", "--id", "07", "--label", "always"], check=True, capture_output=True, env=env)
    subprocess.run([*common, "--write-object", str(cert_der), "--type", "cert", "--id", "07", "--label", "always"],
                   check=True, capture_output=True, env=env)


def test_pin_asked_per_signature(private_tokens: DevEnv, tmp_path: Path) -> None:
    add_always_auth_token(private_tokens, tmp_path)
    env = private_tokens.env()
    out = tmp_path / "signed"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(DOCUMENTS / "libreoffice.pdf"), str(out), LEADER_PIN],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    # login once (False), then one context-specific PIN per signature (True), one prompt at a time
    result = json.loads(done.stdout)
    assert result["requests"] == [False] + [True] * 6
    assert result["most_at_once"] == 1
    for n in range(2):
        assert_pdfsig_all_valid(Path(f"{out}.{n}.pdf"), 1)
