"""The Vietnamese CAs' token quirks, on SoftHSM through OpenSC's pkcs11-spy (which logs every
PKCS#11 call, so the tests see which PINs reached the token):
- a key that needs the PIN for every signature without saying so (the SafeNet 5110 CC answers
  C_Sign with CKR_USER_NOT_LOGGED_IN, though CKA_ALWAYS_AUTHENTICATE is absent or false): the
  first refused signature marks the key, asks the PIN for that signature and signs once more;
- a module showing its own PIN dialog (protected authentication path): no PIN is sent."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import LEADER_PIN, DevEnv
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils
from test_always_authenticate import TOKEN, add_always_auth_token

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
SPY = "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so"  # OpenSC's logger of every PKCS#11 call
WRONG_PIN = "99999999"

SCRIPT = r"""
import asyncio, hashlib, json, sys
from pathlib import Path
from drivers.errors import TokenError
from drivers.tokeninfo import KeyRef
from drivers.tokens import Pkcs11Module

module_path, token_label, login_pin, *signature_pins = sys.argv[1:]
asked = []  # per_signature of each PIN request, in order

class Pins:
    def pin_for(self, request):
        asked.append(request.per_signature)
        return signature_pins.pop(0) if request.per_signature else login_pin

def announced_as_not_per_signature(module, key):
    # what a real 5110 CC's key says: SoftHSM's key carries CKA_ALWAYS_AUTHENTICATE = true
    def forget():
        private_key, kind, _ = module._keys[(key.token_serial, key.key_id)]
        module._keys[(key.token_serial, key.key_id)] = (private_key, kind, False)
    module.worker.run(forget)

module = Pkcs11Module(Path(module_path))
cert = next(c for c in module.certificates() if c.label == "always")
key = KeyRef(module_path, cert.token.serial, cert.key_id, cert.label)
pins = Pins()
result = {"cert": cert.der.hex(), "first_login_says_per_signature": module.prepare_key(key, pins)}
announced_as_not_per_signature(module, key)
digests = [hashlib.sha256(b"first").digest(), hashlib.sha256(b"second").digest(), hashlib.sha256(b"third").digest()]
signatures = [module.sign_digest(key, "sha256", digests[0], pins)]
result["after_first"] = module.worker.run(module.key_ready, key)
signatures.append(module.sign_digest(key, "sha256", digests[1], pins))  # remembered: asked at once
announced_as_not_per_signature(module, key)
signatures.append(asyncio.run(module.asign_digest(key, "sha256", digests[2], pins)))  # the event loop's way
result["signatures"] = [s.hex() for s in signatures]
result["asked_before_wrong"] = list(asked)
announced_as_not_per_signature(module, key)
try:
    module.sign_digest(key, "sha256", hashlib.sha256(b"fourth").digest(), pins)
except TokenError as exc:
    result["wrong"] = exc.code
result["asked"] = asked
result["count_low"] = next(t for t in module.tokens() if t.label == token_label).flags.pin_count_low
module.close()
print(json.dumps(result))
"""


PINPAD_SCRIPT = r"""
import json, sys
from pathlib import Path
from drivers.errors import TokenError
from drivers.pins import PINPAD
from drivers.tokens import Pkcs11Module

module_path, token_label, pin = sys.argv[1:]
module = Pkcs11Module(Path(module_path))
token = next(t for t in module.tokens() if t.label == token_label)
try:
    module.worker.run(module._login, token.serial, PINPAD)
    result = {"pinpad": "logged in"}
except TokenError as exc:
    result = {"pinpad": str(exc)}
module.worker.run(module._login, token.serial, pin)
result["count_low"] = next(t for t in module.tokens() if t.label == token_label).flags.pin_count_low
module.close()
print(json.dumps(result))
"""


def _logins(spy_log: str, user_type: str) -> list[str]:
    """The C_Login calls of one user type in the spy's log, each with its arguments."""
    calls = re.split(r"\n\d+: ", spy_log)
    return [c for c in calls if c.startswith("C_Login") and user_type in c]


def _context_logins(spy_log: str) -> int:
    return len(_logins(spy_log, "CKU_CONTEXT_SPECIFIC"))


def test_key_refusing_a_signature_without_its_pin_gets_one_per_signature(private_tokens: DevEnv,
                                                                          tmp_path: Path) -> None:
    """SoftHSM's key is marked CKA_ALWAYS_AUTHENTICATE (so SoftHSM refuses C_Sign without a
    context-specific login, as the 5110 CC does) and the module's key cache is then told it is
    not: the one place where a real 5110 CC's key, which does not say so, cannot be produced here.
    SoftHSM keeps no count of wrong PINs, only its count-low flag; the PKCS#11 calls logged by
    OpenSC's pkcs11-spy show how many PINs reached the token."""
    add_always_auth_token(private_tokens, tmp_path)
    spy_log = tmp_path / "spy.log"
    env = private_tokens.env(PKCS11SPY=SOFTHSM, PKCS11SPY_OUTPUT=str(spy_log))
    done = subprocess.run([sys.executable, "-c", SCRIPT, SPY, TOKEN, LEADER_PIN, LEADER_PIN, LEADER_PIN, LEADER_PIN,
                           WRONG_PIN], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert result["first_login_says_per_signature"] is True  # SoftHSM's key says so; the cache was told not
    assert result["after_first"] is True  # the refusal was remembered
    # login once, then one PIN for each signature, the wrong one asked once and never again
    assert result["asked_before_wrong"] == [False, True, True, True]
    assert result["asked"] == [False, True, True, True, True]
    assert result["wrong"] == "PIN_INCORRECT"
    assert result["count_low"] is True
    assert _context_logins(spy_log.read_text()) == 4  # three good PINs and the wrong one, once

    public_key = x509.load_der_x509_certificate(bytes.fromhex(result["cert"])).public_key()
    for text, signature in zip((b"first", b"second", b"third"), result["signatures"], strict=True):
        digest = hashes.Hash(hashes.SHA256())
        digest.update(text)
        public_key.verify(bytes.fromhex(signature), digest.finalize(), padding.PKCS1v15(),
                          utils.Prehashed(hashes.SHA256()))


def test_pinpad_token_is_sent_no_pin(private_tokens: DevEnv, tmp_path: Path) -> None:
    """Stands in for a token with a protected authentication path, which SoftHSM cannot be:
    ``pin_source_for`` gives such a token the PINPAD marker (tests/test_pins.py), and this shows
    the login made with it sends no PIN: python-pkcs11 turns it into C_Login with no PIN where the
    token's flags allow, and here (SoftHSM has no pinpad) refuses before any C_Login."""
    spy_log = tmp_path / "spy.log"
    env = private_tokens.env(PKCS11SPY=SOFTHSM, PKCS11SPY_OUTPUT=str(spy_log))
    done = subprocess.run([sys.executable, "-c", PINPAD_SCRIPT, SPY, "Token Le Hong Son", LEADER_PIN],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"pinpad": "TOKEN_ERROR: login failed: ArgumentsBad", "count_low": False}
    logins = _logins(spy_log.read_text(), "CKU_USER")
    assert len(logins) == 1  # only the login with the PIN typed; the pinpad attempt reached no C_Login
    assert re.search(rf"pPin\[ulPinLen\] \S+ / {len(LEADER_PIN)}\n", logins[0])
