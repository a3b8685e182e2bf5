"""A remote signing service speaking CSC API v2 (``tests/csc_v2_server.py``, keys in SoftHSM) and
the ways of signing in to it: OAuth 2.0 client credentials, HTTP basic, OAuth 2.0 authorization
code with PKCE in a real (headless) browser. The real CLI signs; pdfsig and pyHanko's validator
check the result; the service's counters show how often the signer signed in and renewed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

import aiohttp
import pytest
from conftest import DOCUMENTS, DevEnv, free_port, signer_cli
from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from csc_v2_server import RunningV2, start
from daemon_harness import RunningDaemon
from docsys import DocumentSystem, Running
from http_client import call
from pdf_checks import assert_pdfsig_all_valid, validate_all
from test_browser import ARGS, CHROMIUM
from test_remote_csc import _signer_config
from test_vgca import document_frame, vgca

from drivers.csc import Credential, Endpoint, RemoteError, RemoteErrorKind, open_client
from drivers.csc_auth import Authenticator, AuthSettings
from signer.audit import AuditLog
from signer.config import load_settings
from signer.errors import SignerError

SERVICE = "v2"
LEADER = "gov-test/leader"
CLERK = "gov-test/clerk"  # explicit: PIN and OTP


@pytest.fixture(scope="module")
def service(dev_env: DevEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningV2]:
    with start(dev_env.dir / "pki", tmp_path_factory.mktemp("csc-v2"), free_port()) as running:
        yield running


def _config(dev_env: DevEnv, folder: Path, url: str, auth: str, **keys: str) -> Path:
    """The development configuration without tokens, with the v2 service signing in by ``auth``."""
    folder.mkdir(parents=True, exist_ok=True)
    config = _signer_config(dev_env, folder, url)
    text = config.read_text()
    old = 'name = "dummy"'
    assert old in text and 'api_version = "v1"\nauth = "none"\n' in text
    table = "".join(f'{key} = "{value}"\n' for key, value in keys.items())
    text = text.replace(old, f'name = "{SERVICE}"').replace('api_version = "v1"\nauth = "none"\n',
                                                            f'api_version = "v2"\nauth = "{auth}"\n{table}')
    config.write_text(text)
    return config


def _secret(folder: Path, value: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secret"
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def _client_credentials(dev_env: DevEnv, folder: Path, service: RunningV2) -> Path:
    return _config(dev_env, folder, service.url, "client_credentials", client_id=service.client_id,
                   secret_file=str(_secret(folder, service.client_secret)))


def _basic(dev_env: DevEnv, folder: Path, service: RunningV2) -> Path:
    return _config(dev_env, folder, service.url, "basic", username=service.username,
                   secret_file=str(_secret(folder, service.password)))


def _env(config: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "SIGNER_CONFIG": str(config), **extra}


def _sign(config: Path, out: Path, **extra: str) -> tuple[int, str]:
    """The exit code, and all the command said (JSON on stdout, the error line on stderr)."""
    done = signer_cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out), "--profile", "approved",
                      "--cert", LEADER, "--json", env=_env(config, **extra))
    return done.returncode, done.stdout + done.stderr


def _assert_signed(out: Path, dev_env: DevEnv, state: Path) -> None:
    assert_pdfsig_all_valid(out, 1)
    (status,) = validate_all(out.read_bytes(), dev_env.root_cert)  # chains to the test root, the only anchor
    assert status.bottom_line, status.pretty_print_details()
    line = AuditLog(state / "audit.jsonl").read()[-1]
    assert (line.operation, line.result, line.remote) == ("cli sign", "OK", SERVICE)


def _tokens_file(folder: Path) -> Path:
    return folder / "state" / "remote-tokens.json"


def test_certs_lists_the_v2_credentials(service: RunningV2, dev_env: DevEnv, tmp_path: Path) -> None:
    config = _client_credentials(dev_env, tmp_path, service)
    before = service.counters().get("oauth2/token:client_credentials", 0)
    done = signer_cli("certs", "--json", env=_env(config))
    assert done.returncode == 0, done.stderr
    listed = {c["label"]: c for c in json.loads(done.stdout)}
    assert {LEADER, CLERK} <= set(listed) and "gov-test/revoked" not in listed  # a disabled key is left out
    assert listed[LEADER]["common_name"] == "Lê Hồng Sơn"
    assert listed[LEADER]["token"] == {"label": f"csc:{SERVICE}", "serial": f"csc:{SERVICE}"}
    assert service.counters()["oauth2/token:client_credentials"] == before + 1

    tokens = _tokens_file(tmp_path)
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    kept = tokens.read_text()
    assert service.client_secret not in kept and service.client_secret not in config.read_text()
    assert json.loads(kept)[SERVICE]["url"] == service.url


def test_sign_with_client_credentials(service: RunningV2, dev_env: DevEnv, tmp_path: Path) -> None:
    config = _client_credentials(dev_env, tmp_path, service)
    out = tmp_path / "approved.pdf"
    code, said = _sign(config, out)
    assert code == 0, said
    assert json.loads(said)["signer"] == "Lê Hồng Sơn"
    _assert_signed(out, dev_env, tmp_path / "state")


def test_sign_with_basic_and_a_token_the_service_expired(service: RunningV2, dev_env: DevEnv, tmp_path: Path) -> None:
    """auth/login once; the service then refuses that token (401): one refresh, the call made
    again, signed; no second login."""
    config = _basic(dev_env, tmp_path, service)
    code, said = _sign(config, tmp_path / "first.pdf")
    assert code == 0, said
    before = service.counters()
    service.expire()
    out = tmp_path / "second.pdf"
    code, said = _sign(config, out)
    assert code == 0, said
    _assert_signed(out, dev_env, tmp_path / "state")
    after = service.counters()
    assert after["invalid_token"] == before.get("invalid_token", 0) + 1
    assert after["auth/login:refresh"] == before.get("auth/login:refresh", 0) + 1
    assert after["auth/login"] == before["auth/login"]  # renewed, not signed in again
    assert service.password not in _tokens_file(tmp_path).read_text()


def test_a_refused_renewal_with_a_wrong_password_is_login_required(service: RunningV2, dev_env: DevEnv,
                                                                   tmp_path: Path) -> None:
    config = _basic(dev_env, tmp_path, service)
    code, said = _sign(config, tmp_path / "first.pdf")
    assert code == 0, said
    _secret(tmp_path, "not-the-password")
    service.expire(refresh=True)
    out = tmp_path / "never.pdf"
    code, said = _sign(config, out)
    assert code == 6, said
    assert "REMOTE_LOGIN_REQUIRED" in said and SERVICE in said and "Traceback" not in said
    assert not out.exists()


def test_a_token_about_to_expire_is_renewed_before_use(dev_env: DevEnv, tmp_path: Path) -> None:
    """Tokens living 10 s, under the signer's 30 s margin: the second command renews first, and
    the service never refuses a token."""
    with start(dev_env.dir / "pki", tmp_path / "service", free_port(), token_lifetime_s=10) as short:
        config = _basic(dev_env, tmp_path / "signer", short)
        for name in ("first.pdf", "second.pdf"):
            code, said = _sign(config, tmp_path / name)
            assert code == 0, said
        counted = short.counters()
    assert counted["auth/login"] == 1 and counted["auth/login:refresh"] >= 1
    assert counted.get("invalid_token", 0) == counted.get("expired_token", 0) == 0


def test_a_stopped_service_is_unreachable(dev_env: DevEnv, tmp_path: Path) -> None:
    with start(dev_env.dir / "pki", tmp_path / "service", free_port()) as stopping:
        config = _client_credentials(dev_env, tmp_path / "signer", stopping)
        done = signer_cli("certs", "--json", env=_env(config))
        assert done.returncode == 0 and LEADER in done.stdout, done.stderr
        stopping.stop()
        out = tmp_path / "never.pdf"
        code, said = _sign(config, out)
    assert code == 5, said
    assert "REMOTE_UNREACHABLE" in said and SERVICE in said and "Traceback" not in said
    assert not out.exists()
    line = AuditLog(tmp_path / "signer" / "state" / "audit.jsonl").read()[-1]
    assert (line.operation, line.result) == ("cli sign", "REMOTE_UNREACHABLE")


BROWSER_SCRIPT = """#!{python}
import sys
from playwright.sync_api import sync_playwright

with sync_playwright() as running:
    browser = running.chromium.launch(executable_path={chromium!r}, args={args!r})
    page = browser.new_page()
    page.goto(sys.argv[1])
    page.fill("#username", {username!r})
    page.fill("#password", open({password_file!r}).read())
    page.click("#sign-in")
    page.wait_for_url("http://127.0.0.1:*/callback?*")
    open({seen!r}, "w").write(page.inner_text("body"))
    browser.close()
"""


@pytest.mark.browser
def test_authorization_code_in_the_browser(service: RunningV2, dev_env: DevEnv, tmp_path: Path) -> None:
    """``signer remote login`` opens the "system browser" (headless Chromium filling the service's
    form), the redirect comes to the loopback listener; signing then needs no browser; a
    refused token is renewed with the refresh token; once that is refused too, LOGIN_REQUIRED."""
    config = _config(dev_env, tmp_path, service.url, "authorization_code", client_id=service.client_id)
    password = tmp_path / "user-password"
    password.write_text(service.password)
    script = tmp_path / "browser.py"
    seen = tmp_path / "seen.txt"
    script.write_text(BROWSER_SCRIPT.format(python=sys.executable, chromium=CHROMIUM, args=ARGS,
                                            username=service.username, password_file=str(password), seen=str(seen)))
    script.chmod(0o700)

    out = tmp_path / "before.pdf"
    code, said = _sign(config, out)
    assert code == 6 and "REMOTE_LOGIN_REQUIRED" in said and "signer remote login" in said, said

    done = signer_cli("remote", "login", SERVICE, env=_env(config, BROWSER=str(script)))
    assert done.returncode == 0, done.stderr
    assert "Signed in" in seen.read_text()
    listed = json.loads(signer_cli("remote", "list", "--json", env=_env(config)).stdout)
    assert [(s["name"], s["auth"], s["signed_in"]) for s in listed] == [(SERVICE, "authorization_code", True)]
    assert service.password not in _tokens_file(tmp_path).read_text()

    out = tmp_path / "approved.pdf"
    code, said = _sign(config, out)
    assert code == 0, said
    _assert_signed(out, dev_env, tmp_path / "state")

    before = service.counters()
    service.expire()
    code, said = _sign(config, tmp_path / "renewed.pdf")
    assert code == 0, said
    after = service.counters()
    assert after["oauth2/token:refresh_token"] == before.get("oauth2/token:refresh_token", 0) + 1
    assert after["invalid_token"] == before.get("invalid_token", 0) + 1

    service.expire(refresh=True)
    code, said = _sign(config, tmp_path / "never.pdf")
    assert code == 6 and "REMOTE_LOGIN_REQUIRED" in said, said
    assert not (tmp_path / "never.pdf").exists()
    listed = json.loads(signer_cli("remote", "list", "--json", env=_env(config)).stdout)
    assert listed[0]["signed_in"] is False  # the refused tokens were forgotten


def test_remote_logout_forgets_the_tokens(service: RunningV2, dev_env: DevEnv, tmp_path: Path) -> None:
    config = _client_credentials(dev_env, tmp_path, service)
    done = signer_cli("remote", "login", SERVICE, env=_env(config))
    assert done.returncode == 0 and "Signed in" in done.stdout, done.stderr
    human = signer_cli("remote", "list", env=_env(config))
    assert f"{SERVICE}  {service.url}  API v2  auth client_credentials: " in human.stdout
    assert "signed in until" in human.stdout
    done = signer_cli("remote", "logout", SERVICE, env=_env(config))
    assert done.returncode == 0 and "Signed out" in done.stdout
    assert json.loads(_tokens_file(tmp_path).read_text()) == {}
    listed = json.loads(signer_cli("remote", "list", "--json", env=_env(config)).stdout)
    assert listed[0]["signed_in"] is False and listed[0]["expires_at"] is None


def test_the_daemon_signs_with_the_v2_credential(service: RunningV2, dev_env: DevEnv, tmp_path: Path) -> None:
    config = _client_credentials(dev_env, tmp_path, service)
    page = "http://127.0.0.1:5173"
    with RunningDaemon(config, tmp_path / "daemon", allow_origins=(page,), pregranted=(page,),
                       unattended=(page,)) as daemon:
        signed = call("POST", f"{daemon.url}/v1/sign/pdf?profile=approved&cert={LEADER}",
                      headers={"Origin": page, "Content-Type": "application/pdf"},
                      body=(DOCUMENTS / "libreoffice.pdf").read_bytes())
        assert signed.status == 200, signed.body
        out = tmp_path / "daemon.pdf"
        out.write_bytes(signed.body)
        assert_pdfsig_all_valid(out, 1)
        line = AuditLog(daemon.settings.server.state_dir / "audit.jsonl").read()[-1]
        assert (line.result, line.remote) == ("OK", SERVICE)


def test_a_vgca_sign_approved_call_with_the_v2_credential(service: RunningV2, dev_env: DevEnv,
                                                          tmp_path: Path) -> None:
    """A page's SignApproved over wss://, as with a token and with the v1 service: downloaded,
    signed by the v2 service's key (the default certificate), uploaded back."""
    config = _client_credentials(dev_env, tmp_path, service)
    with Running(DocumentSystem()) as docsys, RunningDaemon(
            config, tmp_path / "daemon", allow_origins=(docsys.url,), pregranted=(docsys.url,),
            unattended=(docsys.url,)) as daemon:
        reply = vgca(daemon, "SignApproved", document_frame(docsys), origin=docsys.url)
        assert reply["Status"] == 0, reply
        (upload,) = docsys.uploads
        out = tmp_path / "uploaded.pdf"
        out.write_bytes(upload.data)
        assert_pdfsig_all_valid(out, 1)
        (status,) = validate_all(upload.data, dev_env.root_cert)
        assert status.bottom_line, status.pretty_print_details()
        line = AuditLog(daemon.settings.server.state_dir / "audit.jsonl").read()[-1]
        assert (line.result, line.remote, line.origin) == ("OK", SERVICE, docsys.url)


def _client(service: RunningV2) -> tuple[Endpoint, Authenticator]:
    endpoint = Endpoint(service.url, api_version="v2")
    settings = AuthSettings(kind="client_credentials", service=SERVICE, client_id=service.client_id)
    return endpoint, Authenticator(endpoint, settings, service.client_secret)


def test_the_service_refuses_what_the_specification_refuses(service: RunningV2) -> None:
    """Driver against service: several hashes in one authorisation and one signHash (when the
    service allows it: not here, multisign 1), another hash than the authorised one, a SAD that
    is not one, a wrong PIN or OTP, a disabled credential."""
    digest = hashlib.sha256(b"document").digest()
    other = hashlib.sha256(b"other").digest()

    async def session() -> dict[str, RemoteError | Credential | list[bytes]]:
        endpoint, auth = _client(service)
        seen: dict[str, RemoteError | Credential | list[bytes]] = {}
        async with open_client(endpoint, auth) as client:
            leader = await client.credential(LEADER)
            seen["leader"] = leader
            sad = await client.authorize(LEADER, [digest])
            for name, attempt in (
                ("other hash", client.sign_hashes(leader, sad, [other], key_algorithm="rsa", digest="sha256")),
                ("no such SAD", client.sign_hashes(leader, "not-a-sad", [digest], key_algorithm="rsa",
                                                   digest="sha256")),
                ("two for one", client.authorize(LEADER, [digest, other])),
                ("wrong PIN", client.authorize(CLERK, [digest], pin="0000", otp=service.otp)),
                ("wrong OTP", client.authorize(CLERK, [digest], pin=service.pin, otp="000000")),
                ("disabled", client.authorize("gov-test/revoked", [digest])),
            ):
                try:
                    await attempt
                except RemoteError as refused:
                    seen[name] = refused
            seen["signed"] = await client.sign_hashes(leader, sad, [digest], key_algorithm="rsa", digest="sha256")
            clerk = await client.credential(CLERK)
            seen["clerk"] = clerk
            explicit = await client.authorize(CLERK, [digest], pin=service.pin, otp=service.otp)
            seen["explicit"] = await client.sign_hashes(clerk, explicit, [digest], key_algorithm="rsa",
                                                        digest="sha256")
        return seen

    seen = asyncio.run(session())
    leader, clerk = seen["leader"], seen["clerk"]
    assert isinstance(leader, Credential) and isinstance(clerk, Credential)
    assert (leader.scal, leader.auth_mode, leader.multisign, len(leader.certificates)) == (2, "implicit", 1, 3)
    assert clerk.auth_mode == "explicit"
    for name in ("other hash", "no such SAD", "two for one"):
        refused = seen[name]
        assert isinstance(refused, RemoteError), name
        assert (refused.status, refused.kind) == (400, RemoteErrorKind.REFUSED), (name, refused.detail)
    for name in ("wrong PIN", "wrong OTP"):
        refused = seen[name]
        assert isinstance(refused, RemoteError) and refused.kind is RemoteErrorKind.AUTHORISATION_INCORRECT, name
    disabled = seen["disabled"]
    assert isinstance(disabled, RemoteError) and disabled.kind is RemoteErrorKind.CREDENTIAL_DISABLED
    for credential, signed in ((leader, seen["signed"]), (clerk, seen["explicit"])):
        assert isinstance(signed, list)
        public_key = pyca_x509.load_der_x509_certificate(credential.certificates[0]).public_key()
        public_key.verify(signed[0], digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))  # type: ignore[union-attr]


def test_a_token_refused_after_renewal_is_login_required(service: RunningV2) -> None:
    """A service that refuses every token: renewed once, then LOGIN_REQUIRED (not a loop)."""
    endpoint = Endpoint(service.url, api_version="v2")
    auth = Authenticator(endpoint, AuthSettings(kind="client_credentials", service=SERVICE,
                                                client_id=service.client_id), service.client_secret)

    class Stale:
        async def bearer(self, session: object, *, renew: bool = False) -> str | None:
            await auth.bearer(session, renew=renew)  # type: ignore[arg-type]
            return "refused-every-time"

    async def listing() -> RemoteError:
        async with open_client(endpoint, Stale()) as client:
            try:
                await client.credential_ids()
            except RemoteError as refused:
                return refused
        raise AssertionError("a refused token listed credentials")

    before = service.counters().get("invalid_token", 0)
    refused = asyncio.run(listing())
    assert (refused.status, refused.kind) == (401, RemoteErrorKind.LOGIN_REQUIRED)
    assert service.counters()["invalid_token"] == before + 2
    assert auth.renewals == 2  # the first token, then one renewal


def test_the_browser_answer_must_carry_our_state(service: RunningV2) -> None:
    """A redirect with another state (a forged answer) ends the sign-in without using its code,
    and the listener answers once: it is gone after that."""
    endpoint, _ = _client(service)
    auth = Authenticator(endpoint, AuthSettings(kind="authorization_code", service=SERVICE,
                                                client_id=service.client_id))
    redirects: list[str] = []

    def forged(url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
        redirects.append(query["redirect_uri"][0])
        with pytest.raises(HTTPError) as refused:
            urlopen(f"{redirects[0]}?code=stolen&state=not-ours", timeout=10)
        assert refused.value.code == 400

    async def sign_in() -> RemoteError:
        async with aiohttp.ClientSession() as session:
            try:
                await auth.browser_login(session, forged, wait_s=60)
            except RemoteError as refused:
                return refused
        raise AssertionError("a forged answer signed in")

    before = service.counters().get("oauth2/token:authorization_code", 0)
    refused = asyncio.run(sign_in())
    assert refused.kind is RemoteErrorKind.REFUSED and "state" in refused.detail
    assert service.counters().get("oauth2/token:authorization_code", 0) == before  # the code never sent
    with pytest.raises(URLError):
        urlopen(f"{redirects[0]}?code=late&state=any", timeout=10)


def test_scal_1_with_multisign_signs_several_hashes_per_authorisation(dev_env: DevEnv, tmp_path: Path) -> None:
    digests = [hashlib.sha256(f"văn bản {i}".encode()).digest() for i in range(4)]
    with start(dev_env.dir / "pki", tmp_path, free_port(), scal=1, multisign=3) as several:
        endpoint, auth = _client(several)

        async def session() -> tuple[Credential, list[bytes], RemoteError]:
            async with open_client(endpoint, auth) as client:
                leader = await client.credential(LEADER)
                sad = await client.authorize(LEADER, digests[:3])
                signed = await client.sign_hashes(leader, sad, digests[:3], key_algorithm="rsa", digest="sha256")
                try:  # the authorisation covered three signatures: a fourth is refused
                    await client.sign_hashes(leader, sad, digests[3:], key_algorithm="rsa", digest="sha256")
                except RemoteError as refused:
                    return leader, signed, refused
            raise AssertionError("a SAD signed more than it authorised")

        leader, signed, refused = asyncio.run(session())
        assert several.counters()["signatures/signHash"] == 2
    assert (leader.scal, leader.multisign) == (1, 3)
    public_key = pyca_x509.load_der_x509_certificate(leader.certificates[0]).public_key()
    for digest, signature in zip(digests, signed, strict=False):
        public_key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))  # type: ignore[union-attr]
    assert len(signed) == 3 and refused.status == 400


@pytest.mark.parametrize(("table", "says"), [
    ('auth = "client_credentials"', "needs client_id and secret_file"),
    ('auth = "basic"\nusername = "u"', "needs secret_file"),
    ('auth = "authorization_code"', "needs client_id"),
    ('auth = "oauth2"', "auth must be one of 'none', 'basic', 'client_credentials', 'authorization_code'"),
    ('api_version = "v3"', "api_version must be 'v1' or 'v2'"),
    ('auth = "basic"\nusername = "u"\nsecret_file = "missing"', "secret_file"),
    ('oauth_url = "http://auth.example.gov.vn"', "oauth_url must be https://"),
    ('client_id = "c"', "client_id not used with auth = 'none'"),
    ('auth = "basic"\nusername = "u"\nsecret_file = "s"\nclient_id = "c"', "client_id not used with auth = 'basic'"),
])
def test_v2_settings_are_checked(tmp_path: Path, table: str, says: str) -> None:
    config = tmp_path / "signer.toml"
    config.write_text(f'[[remote]]\nname = "x"\nurl = "https://ky.example.gov.vn"\n{table}\n')
    with pytest.raises(SignerError) as refused:
        load_settings(config, policy_file=tmp_path / "no-policy.toml")
    assert refused.value.code == "CONFIG_INVALID" and says in refused.value.detail, refused.value.detail


def test_a_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    secret = _secret(tmp_path, "s3cret")
    config = tmp_path / "signer.toml"
    config.write_text('[[remote]]\nname = "x"\nurl = "https://ky.example.gov.vn"\napi_version = "v2"\n'
                      'auth = "client_credentials"\nclient_id = "c"\nsecret_file = "secret"\n')
    settings = load_settings(config, policy_file=tmp_path / "no-policy.toml")
    assert settings.remote[0].secret_file == secret and "s3cret" not in repr(settings)
    secret.chmod(0o644)
    with pytest.raises(SignerError) as refused:
        load_settings(config, policy_file=tmp_path / "no-policy.toml")
    assert refused.value.code == "CONFIG_INVALID" and "other users" in refused.value.detail
