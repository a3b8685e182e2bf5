"""A remote credential everywhere a token is: ``signer tokens``, ``/v1/certificates`` and VGCA
``GetCertInfo`` after consent, the ``/v1`` CMS and hash routes, the VGCA SignFiles batch, SignXML,
SignJson (CMS) and SignMsg (hash) paths, and the pre-sign certificate check, each with the audit
line naming the service. ``certomancer-csc-dummy`` holds the keys (the configuration has no
PKCS#11 module); pdfsig, ``openssl cms -verify`` and xmlsec1 check what it signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from companion_harness import answering_companion
from conftest import DOCUMENTS, DevEnv, free_port, signer_cli
from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from daemon_harness import RunningDaemon
from docsys import JWT, SESSION, DocumentSystem, Running
from http_client import call
from pdf_checks import assert_pdfsig_all_valid
from test_remote_csc import CREDENTIAL, SERVICE, Remote, _env, remote  # noqa: F401 - the fixture, reused
from test_vgca import vgca

from signer.audit import AuditLog

LEADER = "Lê Hồng Sơn"


@pytest.fixture(scope="module")
def docsys() -> Iterator[DocumentSystem]:
    with Running(DocumentSystem()) as system:
        yield system


@pytest.fixture(scope="module")
def daemon(remote: Remote, docsys: DocumentSystem,  # noqa: F811 - the imported fixture
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    """The page's origin allowed, consented and unattended: every path signs at once."""
    with RunningDaemon(remote.config, tmp_path_factory.mktemp("remote-daemon"), allow_origins=(docsys.url,),
                       pregranted=(docsys.url,), unattended=(docsys.url,)) as running:
        yield running


def _new_lines(daemon: RunningDaemon, before: int, count: int) -> list[tuple[str, str, str | None]]:
    """The ``count`` audit lines after the first ``before`` (a socket's is written after its reply)."""
    return [(line["operation"], line["result"], line.get("remote"))
            for line in daemon.audit_settled(before + count)[before:]]


def _leader_key(dev_env: DevEnv) -> RSAPublicKey:
    """The leader's public key as the test PKI wrote it (not as the signer or the service read it)."""
    key = pyca_x509.load_pem_x509_certificate((dev_env.dir / "pki" / "certs" / "leader.cert.pem").read_bytes())
    public_key = key.public_key()
    assert isinstance(public_key, RSAPublicKey)
    return public_key


def test_tokens_lists_each_service_and_whether_it_answers(remote: Remote, tmp_path: Path) -> None:  # noqa: F811
    config = tmp_path / "signer.toml"
    gone = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config.write_text(remote.config.read_text() + f'\n[[remote]]\nname = "gone"\nurl = "{gone}"\n')
    env = {**os.environ, "SIGNER_CONFIG": str(config)}
    done = signer_cli("tokens", "--json", env=env)
    assert done.returncode == 0, done.stderr
    services = {s["name"]: s for s in json.loads(done.stdout)["remote"]}
    dummy, missing = services[SERVICE], services["gone"]
    assert (dummy["token"], dummy["url"], dummy["api_version"], dummy["reachable"], dummy["error"]) == (
        f"csc:{SERVICE}", remote.url, "v1", True, None)
    assert dummy["credentials"] >= 4  # leader, clerk, expired, revoked (and the CAs the service lists too)
    assert (missing["reachable"], missing["credentials"], missing["error"]["code"]) == (
        False, 0, "REMOTE_UNREACHABLE")

    human = signer_cli("tokens", env=env)
    assert human.returncode == 0, human.stderr
    assert f"csc:{SERVICE}  {remote.url}  (CSC API v1)" in human.stdout
    assert f"trả lời / answers, {dummy['credentials']} chứng thư số / credential(s)" in human.stdout
    assert "không trả lời / does not answer: REMOTE_UNREACHABLE" in human.stdout


def test_certificates_and_cert_info_after_the_official_consents(remote: Remote, docsys: DocumentSystem,  # noqa: F811
                                                                dev_env: DevEnv, tmp_path: Path) -> None:
    with RunningDaemon(remote.config, tmp_path / "daemon", allow_origins=(docsys.url,),
                       consent_timeout_s=2) as daemon:
        refused = call("GET", f"{daemon.url}/v1/certificates", headers={"Origin": docsys.url})
        assert (refused.status, refused.json()["code"]) == (403, "CONSENT_DENIED")  # nobody asked yet
        with answering_companion(daemon.settings.server.state_dir, "always"):
            info = vgca(daemon, "GetCertInfo", "get_cert_info", origin=docsys.url)
        assert info["Status"] == 0, info
        assert info["CertInfo"]["CommonName"] == LEADER
        given = pyca_x509.load_der_x509_certificate(base64.b64decode(info["CertInfo"]["Base64Cert"]))
        assert given.public_key() == _leader_key(dev_env)
        listed = call("GET", f"{daemon.url}/v1/certificates", headers={"Origin": docsys.url})
        assert listed.status == 200, listed.body  # the consent given ("always") covers it
        labels = {c["label"]: c for c in listed.json()}
        assert labels[CREDENTIAL]["token"] == {"label": f"csc:{SERVICE}", "serial": f"csc:{SERVICE}"}


def test_cms_and_hash_routes(daemon: RunningDaemon, docsys: DocumentSystem, dev_env: DevEnv,
                             tmp_path: Path) -> None:
    content = "Tờ trình 12/TTr".encode()
    headers = {"Origin": docsys.url}
    before = len(daemon.audit_lines())
    signed = call("POST", f"{daemon.url}/v1/sign/cms?cert={CREDENTIAL}",
                  headers={**headers, "Content-Type": "application/octet-stream"}, body=content)
    assert signed.status == 200, signed.body
    (tmp_path / "c.bin").write_bytes(content)
    (tmp_path / "c.p7s").write_bytes(signed.body)
    verified = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "c.p7s"),
                               "-content", str(tmp_path / "c.bin"), "-CAfile", str(dev_env.root_cert),
                               "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr

    digest = hashlib.sha256(content).digest()
    hashed = call("POST", f"{daemon.url}/v1/sign/hash", headers={**headers, "Content-Type": "application/json"},
                  body=json.dumps({"hash": base64.b64encode(digest).decode(), "algorithm": "SHA256",
                                   "cert": CREDENTIAL}).encode())
    assert hashed.status == 200, hashed.body
    certificate = pyca_x509.load_der_x509_certificate(base64.b64decode(hashed.json()["certificate"]))
    assert certificate.public_key() == _leader_key(dev_env)
    _leader_key(dev_env).verify(base64.b64decode(hashed.json()["signature"]), digest, padding.PKCS1v15(),
                                Prehashed(hashes.SHA256()))
    assert _new_lines(daemon, before, 2) == [("POST /v1/sign/cms", "OK", SERVICE),
                                             ("POST /v1/sign/hash", "OK", SERVICE)]


def test_vgca_sign_files_batch(daemon: RunningDaemon, docsys: DocumentSystem, tmp_path: Path) -> None:
    before, lines = len(docsys.uploads), len(daemon.audit_lines())
    frame = {
        "FileUploadHandler": f"{docsys.url}/upload", "SessionId": SESSION, "JWTToken": JWT,
        "Files": [{"FileID": 1, "FileName": "a.pdf", "URL": f"{docsys.url}/download/libreoffice.pdf"},
                  {"FileID": 2, "FileName": "b.pdf", "URL": f"{docsys.url}/download/pdflatex.pdf"}],
    }
    reply = vgca(daemon, "SignFiles", frame, origin=docsys.url)
    assert reply["Status"] == 0, reply
    assert sorted((f["FileID"], f["Status"]) for f in reply["Files"]) == [(1, 0), (2, 0)]
    uploads = docsys.uploads[before:]
    assert sorted(u.fields["FileID"] for u in uploads) == ["1", "2"]
    for index, upload in enumerate(uploads):
        path = tmp_path / f"{index}.pdf"
        path.write_bytes(upload.data)
        assert_pdfsig_all_valid(path, 1)
    audited = _new_lines(daemon, lines, 3)
    assert [line for line in audited if not line[0].startswith("batch ")] == [("GET /SignFiles", "OK", None)]
    assert [line[1:] for line in audited if line[0].startswith("batch ")] == [("OK", SERVICE)] * 2, audited


def test_vgca_sign_xml_verified_by_xmlsec1(daemon: RunningDaemon, docsys: DocumentSystem, dev_env: DevEnv,
                                           tmp_path: Path) -> None:
    before = len(daemon.audit_lines())
    document = ('<?xml version="1.0" encoding="UTF-8"?><edXML xmlns="urn:edxml"><Header>'
                '<From>UBND Thành phố Hà Nội</From></Header><Body>Công văn 45</Body></edXML>').encode()
    reply = vgca(daemon, "SignXML", {"Base64Content": base64.b64encode(document).decode(),
                                     "ReturnSignatureOnly": "false", "HashAlg": "Sha256", "XmlDsigForm": "true"},
                 origin=docsys.url)
    assert reply["Status"] == 0, reply
    signed = tmp_path / "signed.xml"
    signed.write_bytes(base64.b64decode(reply["Signature"]))
    done = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", str(dev_env.root_cert), "--untrusted-pem",
                           str(dev_env.interm_cert), str(signed)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert _new_lines(daemon, before, 1) == [("GET /SignXML", "OK", SERVICE)]


def test_vgca_cms_and_hash_paths(daemon: RunningDaemon, docsys: DocumentSystem, dev_env: DevEnv,
                                 tmp_path: Path) -> None:
    before = len(daemon.audit_lines())
    content = {"so": "45/UBND", "trich_yeu": "Về việc ký số"}
    reply = vgca(daemon, "SignJson", {"JsonContent": content}, origin=docsys.url)
    assert reply["Status"] == 0, reply
    (tmp_path / "content.json").write_text(json.dumps(content, ensure_ascii=False, separators=(",", ":")))
    (tmp_path / "sig.p7s").write_bytes(base64.b64decode(reply["Signature"]))
    done = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.p7s"),
                           "-content", str(tmp_path / "content.json"), "-CAfile", str(dev_env.root_cert),
                           "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

    digest = hashlib.sha256("Nội dung cần ký".encode()).digest()
    message = vgca(daemon, "SignMsg", {"HashAlg": "SHA256", "HashValue": base64.b64encode(digest).decode(),
                                       "Encode": "RSA"}, origin=docsys.url)
    assert message["Status"] == 0, message
    certificate = pyca_x509.load_der_x509_certificate(base64.b64decode(message["CertBase64"]))
    assert certificate.public_key() == _leader_key(dev_env)
    _leader_key(dev_env).verify(base64.b64decode(message["Signature"]), digest, padding.PKCS1v15(),
                                Prehashed(hashes.SHA256()))
    assert _new_lines(daemon, before, 2) == [("GET /SignJson", "OK", SERVICE), ("GET /SignMsg", "OK", SERVICE)]


@pytest.mark.parametrize(("credential", "code"), [("gov-test/revoked", "CERT_REVOKED"),
                                                  ("gov-test/expired", "CERT_EXPIRED")])
def test_the_pre_sign_check_refuses_a_remote_certificate_that_may_not_sign(
        remote: Remote, tmp_path: Path, credential: str, code: str) -> None:  # noqa: F811
    out = tmp_path / "never.pdf"
    done = signer_cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out), "--cert", credential,
                      env=_env(remote))
    assert done.returncode != 0 and code in done.stderr, done.stderr
    assert not out.exists()
    line = AuditLog(remote.state / "audit.jsonl").read()[-1]
    assert (line.operation, line.result, line.remote) == ("cli sign", code, SERVICE)


def test_profiles_and_levels_with_remote_credentials(remote: Remote, tmp_path: Path) -> None:  # noqa: F811
    """The Decree 30 chain of a document signed by the service's keys only, at the levels that
    add time-stamps and validation data: approved by the leader (B-LT), commented (B-T), issued
    with the clerk's seal (B-LTA), then certified as a copy; every signature valid after each step
    (pdfsig), and the signer's own verification passes every one of them."""
    clerk = CREDENTIAL.replace("leader", "clerk")
    images = Path(__file__).resolve().parents[1] / "fixtures" / "images"
    config = tmp_path / "signer.toml"  # the service's credentials given their looks, by label as a token's
    config.write_text(remote.config.read_text() + (
        f'\n[appearance."{CREDENTIAL}"]\nsignature_image = "{images / "leader-signature.png"}"\n'
        f'\n[appearance."{clerk}"]\nseal_image = "{images / "clerk-seal.png"}"\n'
        'organisation = "Ủy ban nhân dân Thành phố Hà Nội"\n'))
    env = {**_env(remote), "SIGNER_CONFIG": str(config)}
    steps = [("approved", CREDENTIAL, "B-LT", ()), ("comment", CREDENTIAL, "B-T", ("--comment", "Đồng ý")),
             ("issued", clerk, "B-LTA", ("--doc-number", "12/QĐ-UBND")), ("copy", clerk, "B-T", ())]
    source = DOCUMENTS / "libreoffice.pdf"
    for count, (profile, credential, level, extra) in enumerate(steps, start=1):
        out = tmp_path / f"{count}-{profile}.pdf"
        done = signer_cli("sign", str(source), "-o", str(out), "--profile", profile, "--cert", credential,
                          "--level", level, *extra, env=env)
        assert done.returncode == 0, done.stderr
        assert_pdfsig_all_valid(out, count)
        source = out
    verified = signer_cli("verify", str(source), "--json", env=env)
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    levels = [(s["signer"], s["level"], s["indication"]) for s in report["signatures"]]
    # the issued step's document time-stamp covers the three before it; the copy's B-T signature
    # finds its chain's validation data in the store that step left
    assert levels == [("Lê Hồng Sơn", "B-LTA", "TOTAL-PASSED")] * 2 + [
        ("Văn phòng UBND Thành phố Hà Nội", "B-LTA", "TOTAL-PASSED"),
        ("Văn phòng UBND Thành phố Hà Nội", "B-LT", "TOTAL-PASSED")], report
    assert report["passed"] is True
    lines = [line for line in AuditLog(remote.state / "audit.jsonl").read() if line.operation == "cli sign"][-4:]
    assert [(line.result, line.remote) for line in lines] == [("OK", SERVICE)] * 4
