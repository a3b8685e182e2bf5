"""A remote signing service (CSC API v1) as one more kind of key: ``certomancer-csc-dummy``
serving the test PKI's credentials on loopback, the real CLI signing with them, pdfsig checking
the signature and pyHanko's validator the chain up to the test root, the only anchor.

The signer's configuration here has no PKCS#11 module at all: whatever signs, the service did.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DOCUMENTS, DevEnv, free_port, signer_cli
from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from daemon_harness import RunningDaemon
from docsys import DocumentSystem, Running
from http_client import call
from pdf_checks import assert_pdfsig_all_valid, assert_qpdf_clean, validate_all
from test_vgca import document_frame, vgca

from drivers.csc import Credential, Endpoint, RemoteError, ServiceInfo, open_client
from signer.audit import AuditLog
from signer.config import load_settings
from signer.errors import SignerError

SERVICE = "dummy"
CREDENTIAL = "gov-test/leader"
START_S = 60.0  # the service's start-up, bounded so that a broken install fails instead of hanging


@dataclass(frozen=True)
class Remote:
    url: str
    config: Path  # the signer's configuration naming it
    state: Path  # the signer's state folder (audit trail)


def _pki_config(dev_env: DevEnv, folder: Path) -> Path:
    """The test PKI as the responders serve it: the same keys, the same responder URLs (so the
    certificates the service hands out are the ones the test CA answers for)."""
    shutil.copytree(dev_env.dir / "pki" / "keys", folder)
    services_url = f"http://127.0.0.1:{(dev_env.dir / 'services.port').read_text().strip()}"
    source = (Path(__file__).resolve().parents[1] / "fixtures" / "pki" / "certomancer.yml").read_text()
    config = folder / "certomancer.yml"
    config.write_text(source.replace('external-url-prefix: "http://127.0.0.1:9921"',
                                     f'external-url-prefix: "{services_url}"'))
    assert services_url in config.read_text()
    return config


def _wait_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"certomancer-csc did not listen on {port} within {START_S:g} s")


def _signer_config(dev_env: DevEnv, folder: Path, url: str) -> Path:
    """The development configuration with the tokens taken away and the service added, its
    leader's credential the default certificate (the VGCA paths sign with it)."""
    text = dev_env.signer_config.read_text()
    for old, new in (('modules = ["/usr/lib/softhsm/libsofthsm2.so"]', "modules = []\nuse_catalog = false"),
                     ('default_certificate = "leader"', f'default_certificate = "{CREDENTIAL}"'),
                     ("[server]\n", f'[server]\nstate_dir = "{folder / "state"}"\n')):
        assert old in text
        text = text.replace(old, new)
    config = folder / "signer.toml"
    config.write_text(text + f'\n[[remote]]\nname = "{SERVICE}"\nurl = "{url}"\napi_version = "v1"\nauth = "none"\n')
    return config


@pytest.fixture(scope="module")
def remote(dev_env: DevEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """certomancer-csc on a free loopback port, SCAL 2 (each authorisation bound to its hashes)."""
    folder = tmp_path_factory.mktemp("csc")
    pki = _pki_config(dev_env, folder / "pki")
    port = free_port()
    command = [str(Path(sys.executable).parent / "certomancer-csc"), str(pki), str(port), "2"]
    log = folder / "csc.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=folder)
    try:
        _wait_listening(port, process, log)
        url = f"http://127.0.0.1:{port}"
        yield Remote(url, _signer_config(dev_env, folder, url), folder / "state")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _env(remote: Remote) -> dict[str, str]:
    return {**os.environ, "SIGNER_CONFIG": str(remote.config)}


def test_certs_lists_the_service_credentials(remote: Remote) -> None:
    done = signer_cli("certs", "--json", env=_env(remote))
    assert done.returncode == 0, done.stderr
    listed = {c["label"]: c for c in json.loads(done.stdout)}
    assert {CREDENTIAL, "gov-test/clerk", "gov-test/expired", "gov-test/revoked"} <= set(listed)
    assert not any(label.endswith(("/root", "/interm")) for label in listed), "CA certificates are no credentials"
    leader = listed[CREDENTIAL]
    assert leader["common_name"] == "Lê Hồng Sơn"
    assert "Test CA phục vụ các cơ quan Nhà nước" in leader["issuer"]
    assert leader["token"] == {"label": f"csc:{SERVICE}", "serial": f"csc:{SERVICE}"}
    assert leader["status"] == "valid" and len(leader["id"]) == 16

    human = signer_cli("certs", env=_env(remote))
    assert human.returncode == 0, human.stderr
    assert f"{CREDENTIAL}  [{leader['id']}]  Lê Hồng Sơn" in human.stdout
    assert f"token csc:{SERVICE} (csc:{SERVICE})" in human.stdout


def test_sign_approved_with_the_remote_credential(remote: Remote, dev_env: DevEnv, tmp_path: Path) -> None:
    out = tmp_path / "approved.pdf"
    done = signer_cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out), "--profile", "approved",
                      "--cert", CREDENTIAL, "--json", env=_env(remote))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["signer"] == "Lê Hồng Sơn"
    assert_pdfsig_all_valid(out, 1)
    assert_qpdf_clean(out)
    # the chain to the test root, with it as the only anchor (pdfsig's NSS validation reports an
    # "unknown issue" for the test PKI's certificates whichever key signs, so it cannot tell here)
    (status,) = validate_all(out.read_bytes(), dev_env.root_cert)
    assert status.bottom_line, status.pretty_print_details()

    line = AuditLog(remote.state / "audit.jsonl").read()[-1]
    assert (line.operation, line.result, line.remote) == ("cli sign", "OK", SERVICE)
    assert line.certificate_sha256 is not None


def test_a_service_that_does_not_answer_is_its_own_error(dev_env: DevEnv, tmp_path: Path) -> None:
    config = _signer_config(dev_env, tmp_path, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    out = tmp_path / "never.pdf"
    done = signer_cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out), "--profile", "approved",
                      "--cert", CREDENTIAL, env={**os.environ, "SIGNER_CONFIG": str(config)})
    assert done.returncode == 5, done.stderr
    assert "REMOTE_UNREACHABLE" in done.stderr and SERVICE in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
    line = AuditLog(tmp_path / "state" / "audit.jsonl").read()[-1]
    assert (line.operation, line.result) == ("cli sign", "REMOTE_UNREACHABLE")


def test_a_service_answering_errors_is_its_own_error(dev_env: DevEnv, tmp_path: Path) -> None:
    """The test CA's responders answer HTTP, but no CSC method: every call is an error answer."""
    responders = f"http://127.0.0.1:{(dev_env.dir / 'services.port').read_text().strip()}"
    config = _signer_config(dev_env, tmp_path, responders)
    out = tmp_path / "never.pdf"
    done = signer_cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out), "--cert", CREDENTIAL,
                      env={**os.environ, "SIGNER_CONFIG": str(config)})
    assert done.returncode == 5, done.stderr
    assert "REMOTE_SERVICE_ERROR" in done.stderr and "HTTP 404" in done.stderr, done.stderr
    assert not out.exists()


def test_the_client_signs_many_hashes_in_one_call(remote: Remote) -> None:
    digests = [hashlib.sha256(f"document {i}".encode()).digest() for i in range(5)]

    async def session() -> tuple[ServiceInfo, Credential, list[bytes], RemoteError]:
        async with open_client(Endpoint(remote.url)) as client:
            info = await client.info()
            credential = await client.credential(CREDENTIAL)
            sad = await client.authorize(CREDENTIAL, digests)
            signatures = await client.sign_hashes(credential, sad, digests, key_algorithm="rsa", digest="sha256")
            try:  # SCAL 2: the authorisation covers its own hashes, no other
                await client.sign_hashes(credential, sad, [hashlib.sha256(b"other").digest()],
                                         key_algorithm="rsa", digest="sha256")
            except RemoteError as refused:
                return info, credential, signatures, refused
            raise AssertionError("a hash outside the authorisation was signed")

    info, credential, signatures, refused = asyncio.run(session())
    assert info.specs.startswith("1.0.4") and "signatures/signHash" in info.methods
    assert (credential.scal, credential.auth_mode, credential.enabled) == (2, "implicit", True)
    assert len(credential.certificates) == 3  # the signer's, then its chain up to the root
    public_key = pyca_x509.load_der_x509_certificate(credential.certificates[0]).public_key()
    assert len(signatures) == len(digests)
    for digest, signature in zip(digests, signatures, strict=True):
        public_key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    assert refused.reached and refused.status == 400


@pytest.mark.parametrize(("table", "says"), [
    ('name = "x"\nurl = "http://ky.example.gov.vn"', "https://"),
    ('name = "x"\nurl = "https://ky.example.gov.vn"\nauth = "oauth2"', "auth must be one of"),
    ('name = "x"\nurl = "https://ky.example.gov.vn"\napi_version = "v3"', "'v1' or 'v2'"),
    ('name = "a b"\nurl = "https://ky.example.gov.vn"', "name"),
    ('name = "x"\nurl = "https://ky.example.gov.vn"\nclient_id = "c"', "client_id"),
])
def test_remote_settings_are_checked(tmp_path: Path, table: str, says: str) -> None:
    config = tmp_path / "signer.toml"
    config.write_text(f"[[remote]]\n{table}\n")
    with pytest.raises(SignerError) as refused:
        load_settings(config, policy_file=tmp_path / "no-policy.toml")
    assert refused.value.code == "CONFIG_INVALID" and says in refused.value.detail


def test_two_services_need_two_names(tmp_path: Path) -> None:
    config = tmp_path / "signer.toml"
    one = '[[remote]]\nname = "x"\nurl = "https://a.example.gov.vn"\n'
    config.write_text(one + one.replace("a.example", "b.example"))
    with pytest.raises(SignerError) as refused:
        load_settings(config, policy_file=tmp_path / "no-policy.toml")
    assert "names must differ" in refused.value.detail
    config.write_text(one + one.replace('"x"', '"y"'))
    settings = load_settings(config, policy_file=tmp_path / "no-policy.toml")
    assert [(r.name, r.url, r.api_version, r.auth) for r in settings.remote] == [
        ("x", "https://a.example.gov.vn", "v1", "none"), ("y", "https://a.example.gov.vn", "v1", "none")]


def test_the_daemon_lists_and_signs_with_the_remote_credential(remote: Remote, tmp_path: Path) -> None:
    """The same /v1 calls as with a token, the credential named by its id."""
    page = "http://127.0.0.1:5173"
    with RunningDaemon(remote.config, tmp_path / "daemon", allow_origins=(page,), pregranted=(page,),
                       unattended=(page,)) as daemon:
        listed = call("GET", f"{daemon.url}/v1/certificates", headers={"Origin": page})
        assert listed.status == 200, listed.body
        labels = {c["label"]: c for c in listed.json()}
        assert labels[CREDENTIAL]["token"]["label"] == f"csc:{SERVICE}"
        signed = call("POST", f"{daemon.url}/v1/sign/pdf?profile=approved&cert={CREDENTIAL}",
                      headers={"Origin": page, "Content-Type": "application/pdf"},
                      body=(DOCUMENTS / "libreoffice.pdf").read_bytes())
        assert signed.status == 200, signed.body
        out = tmp_path / "daemon.pdf"
        out.write_bytes(signed.body)
        assert_pdfsig_all_valid(out, 1)
        line = AuditLog(daemon.settings.server.state_dir / "audit.jsonl").read()[-1]
        assert (line.result, line.remote, line.origin) == ("OK", SERVICE, page)


def test_a_cms_signature_with_the_remote_credential(remote: Remote, dev_env: DevEnv, tmp_path: Path) -> None:
    content = tmp_path / "công-văn.xml"
    content.write_text("<vanban><so>123/UBND-VP</so></vanban>", encoding="utf-8")
    out = tmp_path / "công-văn.p7s"
    done = signer_cli("sign-cms", str(content), "-o", str(out), "--cert", CREDENTIAL, env=_env(remote))
    assert done.returncode == 0, done.stderr
    verified = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(out), "-content", str(content),
         "-CAfile", str(dev_env.root_cert), "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True, timeout=60)
    assert "Verification successful" in verified.stderr, verified.stderr


def test_a_small_batch_with_the_remote_credential(remote: Remote, tmp_path: Path) -> None:
    """Each document its own authorisation and signHash for now (one per batch is still to come)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(3):
        shutil.copy(DOCUMENTS / "libreoffice.pdf", folder / f"van-ban-{index}.pdf")
    (tmp_path / "out").mkdir()
    done = signer_cli("sign-batch", str(folder), "-o", str(tmp_path / "out"), "--cert", CREDENTIAL,
                      "--profile", "approved", env=_env(remote))
    assert done.returncode == 0, done.stderr
    signed = sorted((tmp_path / "out").glob("*.pdf"))
    assert [p.name for p in signed] == [f"van-ban-{index}-signed.pdf" for index in range(3)]
    for path in signed:
        assert_pdfsig_all_valid(path, 1)
    items = [line for line in AuditLog(remote.state / "audit.jsonl").read() if " item " in line.operation]
    assert [(line.result, line.remote) for line in items[-3:]] == [("OK", SERVICE)] * 3


def test_a_vgca_sign_approved_call_with_the_remote_credential(remote: Remote, tmp_path: Path) -> None:
    """A page's SignApproved over wss://, exactly as with a token: the document downloaded, signed
    by the service's key (the default certificate), uploaded back."""
    with Running(DocumentSystem()) as docsys, RunningDaemon(
            remote.config, tmp_path / "daemon", allow_origins=(docsys.url,), pregranted=(docsys.url,),
            unattended=(docsys.url,)) as daemon:
        reply = vgca(daemon, "SignApproved", document_frame(docsys), origin=docsys.url)
        assert reply["Status"] == 0, reply
        (upload,) = docsys.uploads
        out = tmp_path / "uploaded.pdf"
        out.write_bytes(upload.data)
        assert_pdfsig_all_valid(out, 1)
        line = AuditLog(daemon.settings.server.state_dir / "audit.jsonl").read()[-1]
        assert (line.result, line.remote, line.origin) == ("OK", SERVICE, docsys.url)
