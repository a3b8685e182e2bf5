"""A remote signing service speaking the Cloud Signature Consortium API v2 (2.0.0.2), for tests:
an aiohttp app run as its own process on a loopback port, its keys in SoftHSM (a token of its
own, the test PKI's leader, clerk and revoked keys loaded), signing through python-pkcs11.

It follows the specification's JSON for what it serves, and refuses what the specification
refuses:
- ``oauth2/authorize`` (§ 8.4.2): a small HTML sign-in form; the code only with PKCE S256 and a
  loopback ``redirect_uri``; ``oauth2/token`` (§ 8.4.4): the ``authorization_code`` (verifier
  checked), ``client_credentials`` and ``refresh_token`` grants (RFC 6749 §§ 4.1, 4.4, 6);
- ``auth/login`` (§ 11.2): HTTP basic, ``rememberMe`` giving a refresh token, or a
  ``refresh_token`` alone;
- ``info`` (§ 11.1, unauthenticated), ``credentials/list`` (§ 11.4), ``credentials/info``
  (§ 11.5: ``auth`` with ``authInfo``), ``credentials/authorize`` (§ 11.6: ``authData`` PIN/OTP
  for a credential that asks for them, ``hashes`` bound to the SAD at SCAL 2, ``numSignatures``
  up to ``multisign``), ``signatures/signHash`` (§ 11.10): every call but ``info`` needs a live
  bearer token, else HTTP 401 ``invalid_token`` (unknown) or ``expired_token`` (the common
  error table of § 10; RFC 6750 § 3.1).
Each refusal carries the ``error`` and ``error_description`` of the method's error table.

Credentials: ``gov-test/leader`` (needs nothing: v2 ``auth.mode`` "explicit" with no
authentication objects), ``gov-test/clerk`` (the PIN and/or OTP the test chose),
``gov-test/revoked`` (its key disabled). For the tests, ``GET /test/counters``
counts what happened and ``POST /test/expire`` (``?refresh=1``: refresh tokens too) makes the
tokens issued so far invalid at once.

Run ``python tests/csc_v2_server.py CONFIG.json``; ``start`` below writes the configuration,
makes the token, starts the process and stops it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "csc-v2"
HSM_PIN = "24681357"
START_S = 60.0
HASH_OIDS = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384", "2.16.840.1.101.3.4.2.3": "sha512"}
# DigestInfo prefixes (RFC 8017 § 9.2, note 1): RSA PKCS#1 v1.5 over a digest made elsewhere
DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
SIGN_ALGOS = {"1.2.840.113549.1.1.1": None, "1.2.840.113549.1.1.11": "sha256", "1.2.840.113549.1.1.12": "sha384",
              "1.2.840.113549.1.1.13": "sha512"}
SAD_LIFETIME_S = 300
CODE_LIFETIME_S = 120


# ---------------------------------------------------------------------------------------------
# The harness: what a test starts


@dataclass
class RunningV2:
    url: str
    client_id: str
    client_secret: str
    username: str
    password: str
    pin: str | None
    otp: str | None
    process: subprocess.Popen[bytes]
    log: Path

    def counters(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/test/counters", timeout=10) as answer:
            return dict(json.loads(answer.read()))

    def expire(self, *, refresh: bool = False) -> None:
        """Every access token issued so far refused from now on (and the refresh tokens too)."""
        request = urllib.request.Request(f"{self.url}/test/expire{'?refresh=1' if refresh else ''}", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@contextmanager
def start(pki: Path, folder: Path, port: int, *, token_lifetime_s: int = 3600, scal: int = 2, multisign: int = 1,
          pin: str | None = "1357", otp: str | None = "246810") -> Iterator[RunningV2]:
    """The service on ``port``, its token made in ``folder`` from the test PKI in ``pki`` (the
    ``keys`` and ``certs`` folders softhsm-setup.sh writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    env = _softhsm(pki, folder)
    chain = [_der(pki / "certs" / f"{name}.cert.pem") for name in ("interm", "root")]
    credentials = [
        # "asks": whether the official gives the PIN and/or OTP (both are v2 "explicit")
        {"id": "gov-test/leader", "label": "leader", "asks": False, "enabled": True},
        {"id": "gov-test/clerk", "label": "clerk", "asks": True, "enabled": True},
        {"id": "gov-test/revoked", "label": "revoked", "asks": False, "enabled": False},
    ]
    for credential in credentials:
        certificate = _der(pki / "certs" / f"{credential['label']}.cert.pem")
        credential["certificates"] = [base64.b64encode(c).decode() for c in (certificate, *chain)]
    client_id, client_secret = "vn-token-signer", secrets.token_hex(16)
    username, password = "le.hong.son", secrets.token_hex(8)
    config = {"port": port, "token_lifetime_s": token_lifetime_s, "scal": scal, "multisign": multisign,
              "pin": pin, "otp": otp, "clients": {client_id: client_secret}, "users": {username: password},
              "credentials": credentials}
    (folder / "server.json").write_text(json.dumps(config))
    log = folder / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, __file__, str(folder / "server.json")], env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
    running = RunningV2(url=f"http://127.0.0.1:{port}", client_id=client_id, client_secret=client_secret,
                        username=username, password=password, pin=pin, otp=otp, process=process, log=log)
    try:
        _wait_listening(port, running)
        yield running
    finally:
        running.stop()


def _softhsm(pki: Path, folder: Path) -> dict[str, str]:
    (folder / "tokens").mkdir(exist_ok=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}

    def run(*command: str) -> None:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    run("softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", "0000", "--pin", HSM_PIN)
    for index, name in enumerate(("leader", "clerk", "revoked"), start=1):
        key = folder / f"{name}.key.der"
        run("openssl", "pkey", "-in", str(pki / "keys" / f"{name}.key.pem"), "-outform", "DER", "-out", str(key))
        run("pkcs11-tool", "--module", MODULE, "--token-label", TOKEN, "--login", "--pin", HSM_PIN,
            "--write-object", str(key), "--type", "privkey", "--usage-sign", "--id", f"0{index}", "--label", name)
        key.unlink()
    return env


def _der(pem_file: Path) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(pem_file.read_bytes()).public_bytes(Encoding.DER)


def _wait_listening(port: int, running: RunningV2) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        assert running.process.poll() is None, running.log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the CSC v2 service did not listen on {port} within {START_S:g} s")


# ---------------------------------------------------------------------------------------------
# The service


@dataclass
class Sad:
    credential: str
    hashes: set[bytes] | None  # SCAL 2: the only hashes it may sign
    remaining: int
    expires: float


@dataclass
class State:
    config: dict[str, Any]
    signer: Any  # python-pkcs11 session
    access: dict[str, float] = field(default_factory=dict)  # access token -> expiry
    refresh: set[str] = field(default_factory=set)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    sads: dict[str, Sad] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)

    def credential(self, credential_id: object) -> dict[str, Any] | None:
        return next((c for c in self.config["credentials"] if c["id"] == credential_id), None)

    def tokens(self, *, refresh: bool) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        self.access[access] = time.time() + self.config["token_lifetime_s"]
        answer: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                                  "expires_in": self.config["token_lifetime_s"]}
        if refresh:
            token = secrets.token_urlsafe(24)
            self.refresh.add(token)
            answer["refresh_token"] = token
        return answer


def main(config_file: str) -> None:
    import pkcs11
    from aiohttp import web

    config = json.loads(Path(config_file).read_text())
    session = pkcs11.lib(MODULE).get_token(token_label=TOKEN).open(user_pin=HSM_PIN)
    state = State(config, session)
    app = web.Application()
    app["state"] = state
    app.router.add_get("/oauth2/authorize", authorize_page)
    app.router.add_post("/oauth2/authorize", authorize_form)
    app.router.add_post("/oauth2/token", token)
    app.router.add_post("/csc/v2/info", info)
    app.router.add_post("/csc/v2/auth/login", login)
    for method, handler in (("credentials/list", credentials_list), ("credentials/info", credentials_info),
                            ("credentials/authorize", credentials_authorize), ("signatures/signHash", sign_hash)):
        app.router.add_post(f"/csc/v2/{method}", bearer_only(handler))
    app.router.add_get("/test/counters", lambda r: web.json_response(dict(r.app["state"].counters)))
    app.router.add_post("/test/expire", expire)
    web.run_app(app, host="127.0.0.1", port=config["port"], print=None)


def error(status: int, name: str, description: str = "") -> Any:
    from aiohttp import web

    body = {"error": name} | ({"error_description": description} if description else {})
    # RFC 6750 § 3.1 has one error for any unusable token, invalid_token
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if name in ("invalid_token", "expired_token") \
        else None
    return web.json_response(body, status=status, headers=headers)


def bearer_only(handler: Any) -> Any:
    async def checked(request: Any) -> Any:
        state: State = request.app["state"]
        scheme, _, access = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or state.access.get(access, 0.0) <= time.time():
            if scheme == "Bearer" and access in state.access:
                state.counters["expired_token"] += 1
                return error(401, "expired_token", "The access or refresh token is expired or has been revoked")
            state.counters["invalid_token"] += 1
            return error(401, "invalid_token", "The token provided is not a valid OAuth access or refresh token")
        try:
            body = await request.json()
        except ValueError:
            return error(400, "invalid_request", "The body is not JSON")
        state.counters[request.path.removeprefix("/csc/v2/")] += 1
        try:
            return await handler(state, body if isinstance(body, dict) else {})
        except ValueError:  # a hash that is not base64
            return error(400, "invalid_request", "Invalid Base64 hash string parameter")

    return checked


async def info(request: Any) -> Any:
    from aiohttp import web

    base = f"http://{request.host}"
    return web.json_response({
        "specs": "2.0.0.2", "name": "CSC v2 test service", "logo": f"{base}/logo.png", "region": "VN", "lang": "vi",
        "description": "Dịch vụ ký số từ xa thử nghiệm", "authType": ["basic", "oauth2client", "oauth2code"],
        "oauth2": base,  # or oauth2Issuer, never both (§ 11.1)
        "methods": ["auth/login", "credentials/list", "credentials/info", "credentials/authorize",
                    "signatures/signHash", "oauth2/authorize", "oauth2/token"],
        "signAlgorithms": {"algos": list(SIGN_ALGOS)},
    })


async def authorize_page(request: Any) -> Any:
    from aiohttp import web

    state: State = request.app["state"]
    query = request.query
    redirect = urlsplit(query.get("redirect_uri", ""))
    if query.get("client_id") not in state.config["clients"] or redirect.scheme != "http" or \
            redirect.hostname not in ("127.0.0.1", "localhost", "::1"):
        return web.Response(status=400, text="unknown client or redirect_uri")
    if query.get("response_type") != "code":
        raise _back(query, "unsupported_response_type", "response_type must be code")
    if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
        raise _back(query, "invalid_request", "PKCE with S256 is required")
    return web.Response(content_type="text/html", text=_form(dict(query), ""))


def _back(query: Any, name: str, description: str) -> Any:
    """A refused authorization request, told to the client at its (checked) redirect_uri."""
    from aiohttp import web

    answer = {"error": name, "error_description": description} | \
        ({"state": query["state"]} if "state" in query else {})
    return web.HTTPFound(f"{query['redirect_uri']}?{urlencode(answer)}")


def _form(query: dict[str, str], message: str) -> str:
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in query.items())
    return ("<!doctype html><meta charset=utf-8><title>Đăng nhập</title><form method=post>"
            f"<p id=message>{html.escape(message)}</p>{hidden}"
            "<label>Tên đăng nhập <input id=username name=username></label>"
            "<label>Mật khẩu <input id=password name=password type=password></label>"
            "<button id=sign-in type=submit>Đăng nhập</button></form>")


async def authorize_form(request: Any) -> Any:
    from aiohttp import web

    state: State = request.app["state"]
    form = dict(await request.post())
    user, password = form.pop("username", ""), form.pop("password", "")
    if state.config["users"].get(user) != password:
        return web.Response(content_type="text/html", text=_form(form, "Sai tên đăng nhập hoặc mật khẩu"))
    code = secrets.token_urlsafe(24)
    state.codes[code] = {"client_id": form.get("client_id"), "redirect_uri": form.get("redirect_uri"),
                         "challenge": form.get("code_challenge"), "expires": time.time() + CODE_LIFETIME_S}
    state.counters["oauth2/authorize"] += 1
    raise web.HTTPFound(f"{form['redirect_uri']}?{urlencode({'code': code, 'state': form.get('state', '')})}")


async def token(request: Any) -> Any:
    from aiohttp import web

    state: State = request.app["state"]
    form = dict(await request.post())
    grant = form.get("grant_type", "")
    state.counters[f"oauth2/token:{grant}"] += 1
    client, secret = form.get("client_id", ""), form.get("client_secret")
    if not client:
        return error(400, "invalid_request", "Missing parameter client_id")
    if client not in state.config["clients"]:
        return error(400, "invalid_request", "Invalid parameter client_id")
    if secret is not None and state.config["clients"][client] != secret:
        return error(400, "invalid_request", "Invalid parameter client_secret")
    if grant == "client_credentials":
        if secret is None:
            return error(400, "invalid_request", "Client authorization required")
        return web.json_response(state.tokens(refresh=False))  # RFC 6749 § 4.4.3: no refresh token
    if grant == "refresh_token":
        if form.get("refresh_token") not in state.refresh:
            return error(400, "invalid_grant", "Invalid parameter refresh_token")
        return web.json_response(state.tokens(refresh=False))
    if grant == "authorization_code":
        issued = state.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if issued is None or issued["expires"] < time.time() or issued["client_id"] != client or \
                issued["challenge"] != challenge:
            return error(400, "invalid_grant", "Authorization code is invalid or expired")
        if issued["redirect_uri"] != form.get("redirect_uri"):
            return error(400, "invalid_grant",
                         "redirect_uri parameter does not match redirect_uri parameter of authorization request")
        return web.json_response(state.tokens(refresh=True))
    return error(400, "invalid_request", f"{'Invalid' if grant else 'Missing'} parameter grant_type")


async def login(request: Any) -> Any:
    from aiohttp import web

    state: State = request.app["state"]
    try:
        body = await request.json()
    except ValueError:
        body = {}
    if body.get("refresh_token"):
        state.counters["auth/login:refresh"] += 1
        if body["refresh_token"] not in state.refresh:
            return error(400, "invalid_request", "Invalid refresh_token")
        return web.json_response(state.tokens(refresh=False))
    state.counters["auth/login"] += 1
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        decoded = base64.b64decode(encoded, validate=True).decode() if scheme == "Basic" else None
    except ValueError:
        decoded = None
    if decoded is None:
        return error(401, "invalid_request", "Malformed authentication parameter")
    user, colon, password = decoded.partition(":")
    if not colon:
        return error(400, "invalid_request", "Malformed username-password")
    if state.config["users"].get(user) != password:
        return error(400, "authentication_error", "An error occurred during authentication process")
    return web.json_response(state.tokens(refresh=bool(body.get("rememberMe"))))


async def expire(request: Any) -> Any:
    from aiohttp import web

    state: State = request.app["state"]
    state.access.clear()
    if request.query.get("refresh"):
        state.refresh.clear()
    return web.json_response({})


async def credentials_list(state: State, body: dict[str, Any]) -> Any:
    from aiohttp import web

    return web.json_response({"credentialIDs": [c["id"] for c in state.config["credentials"]]})


async def credentials_info(state: State, body: dict[str, Any]) -> Any:
    from aiohttp import web

    credential = state.credential(body.get("credentialID"))
    if credential is None:
        return error(400, "invalid_request", "Invalid parameter credentialID")
    which = body.get("certificates", "single")
    certificates = {"none": [], "single": credential["certificates"][:1], "chain": credential["certificates"]}
    if which not in certificates:
        return error(400, "invalid_request", "Invalid parameter certificates")
    answer: dict[str, Any] = {
        "key": {"status": "enabled" if credential["enabled"] else "disabled", "algo": list(SIGN_ALGOS), "len": 2048},
        "cert": {"status": "valid", "certificates": certificates[which]},
        "SCAL": str(state.config["scal"]), "multisign": state.config["multisign"], "lang": "vi",
    }
    if body.get("authInfo"):
        answer["auth"] = _auth(state, credential)
    return web.json_response(answer)


def _auth(state: State, credential: dict[str, Any]) -> dict[str, Any]:
    """v2 has no "implicit": a credential that asks nothing is "explicit" with no objects."""
    objects = [{"type": "Password", "id": name, "format": "N", "label": name}
               for name in ("PIN", "OTP") if credential["asks"] and state.config[name.lower()] is not None]
    expression = {"expression": " AND ".join(o["id"] for o in objects)} if objects else {}
    return {"mode": "explicit", **expression, "objects": objects}


async def credentials_authorize(state: State, body: dict[str, Any]) -> Any:
    from aiohttp import web

    credential = state.credential(body.get("credentialID"))
    if credential is None:
        return error(400, "invalid_request", "Invalid parameter credentialID")
    if not credential["enabled"]:
        return error(400, "invalid_request", "The credential identified by credentialID is disabled")
    count = body.get("numSignatures")
    if not isinstance(count, int) or isinstance(count, bool):
        return error(400, "invalid_request", "Missing (or invalid type) integer parameter numSignatures")
    if count < 1:
        return error(400, "invalid_request", "Invalid value for parameter numSignatures")
    if count > state.config["multisign"]:
        return error(400, "invalid_request", "Numbers of signatures is too high")
    hashes = body.get("hashes")
    if state.config["scal"] == 2 and (not isinstance(hashes, list) or len(hashes) != count):
        return error(400, "invalid_request", "Missing (or invalid type) parameter hashes")
    if hashes is not None and body.get("hashAlgorithmOID") not in HASH_OIDS:
        return error(400, "invalid_request", "Invalid parameter hashAlgorithmOID")
    if credential["asks"]:
        given = {str(a.get("id")): a.get("value") for a in body.get("authData", []) if isinstance(a, dict)}
        for name in ("PIN", "OTP"):
            wanted = state.config[name.lower()]
            if wanted is not None and given.get(name) != wanted:
                state.counters[f"wrong {name}"] += 1
                return error(400, f"invalid_{name.lower()}", f"The {name} is invalid")
    bound = {_unb64(h) for h in hashes} if state.config["scal"] == 2 and isinstance(hashes, list) else None
    sad = secrets.token_urlsafe(24)
    state.sads[sad] = Sad(credential["id"], bound, count, time.time() + SAD_LIFETIME_S)
    return web.json_response({"SAD": sad, "expiresIn": SAD_LIFETIME_S})


async def sign_hash(state: State, body: dict[str, Any]) -> Any:
    from aiohttp import web
    from pkcs11 import KeyType, Mechanism, ObjectClass

    credential = state.credential(body.get("credentialID"))
    if credential is None:
        return error(400, "invalid_request", "Invalid parameter credentialID")
    sad = state.sads.get(str(body.get("SAD")))
    if sad is None or sad.credential != credential["id"]:
        return error(400, "invalid_request", "Invalid parameter SAD")
    if sad.expires < time.time():
        return error(400, "invalid_request", "SAD expired")
    hashes = body.get("hashes")
    if not isinstance(hashes, list):
        return error(400, "invalid_request", "Missing (or invalid type) array parameter hashes")
    if not hashes:
        return error(400, "invalid_request", "Empty hash array")
    algo = str(body.get("signAlgo"))
    if algo not in SIGN_ALGOS:
        return error(400, "invalid_request", "Invalid parameter signAlgo")
    # hashAlgorithmOID counts only when signAlgo does not name the digest (rsaEncryption); else it is ignored
    digest = SIGN_ALGOS[algo] or HASH_OIDS.get(str(body.get("hashAlgorithmOID")))
    if digest is None:
        return error(400, "invalid_request", "Invalid parameter hashAlgorithmOID")
    values = [_unb64(h) for h in hashes]
    if len(values) > sad.remaining:
        return error(400, "invalid_request", "More hashes than the SAD authorises")
    if sad.hashes is not None and not set(values) <= sad.hashes:
        return error(400, "invalid_request", "Hash is not authorized by the SAD")
    key = state.signer.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.RSA, label=credential["label"])
    signatures = [key.sign(DIGEST_INFO[digest] + v, mechanism=Mechanism.RSA_PKCS) for v in values]
    sad.remaining -= len(values)
    if sad.hashes is not None:
        sad.hashes -= set(values)
    if sad.remaining == 0:
        del state.sads[str(body.get("SAD"))]
    state.counters["signatures"] += len(signatures)
    return web.json_response({"signatures": [base64.b64encode(s).decode() for s in signatures]})


def _unb64(value: object) -> bytes:
    text = str(value)
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)) if "-" in text or "_" in text \
        else base64.b64decode(text)


if __name__ == "__main__":
    main(sys.argv[1])
