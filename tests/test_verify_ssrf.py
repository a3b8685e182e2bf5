"""Verification fetches nothing a document's certificates name outside the URL policy.

A self-made CA ("Canary") signs documents whose signer certificate names its issuer (AIA
caIssuers), OCSP responders and CRLs on a canary HTTP server on loopback that counts every
request, and on a second server the policy allows (``fetch_hosts``) that redirects to the
canary and answers a CRL larger than the limit. Both documents go through every edge:
``POST /v1/verify/pdf``, VGCA ``VerifyPDF`` and ``signer verify``. No request reaches the
canary; the reports say what was not attempted and what was refused. A document signed with
the test PKI's real CA still validates online with its responders.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import ssl
import subprocess
import threading
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp
import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from conftest import DOCUMENTS, DevEnv, assert_no_traceback
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from daemon_harness import RunningDaemon
from http_client import call
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

PAGE = "http://127.0.0.1:5180"
SOURCE = (DOCUMENTS / "libreoffice.pdf").read_bytes()
MB = 1024 * 1024

Answer = tuple[int, dict[str, str], bytes]


class _CountingServer(ThreadingHTTPServer):
    def __init__(self, answer: Callable[[str], Answer]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.hits: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _CountingServer

    def _answer(self) -> None:
        self.server.hits.append(f"{self.command} {self.path}")
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, body = self.server.answer(self.path)
        self.send_response(status)
        if self.path != "/unsized.crl":  # HTTP/1.0: without a length, the body ends when the connection does
            headers = {**headers, "Content-Length": str(len(body))}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def _serving(answer: Callable[[str], Answer]) -> Iterator[_CountingServer]:
    server = _CountingServer(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def canary() -> Iterator[_CountingServer]:
    """Must never be asked anything: whatever it answers, a request here is the forgery."""
    yield from _serving(lambda path: (200, {"Content-Type": "application/pkix-cert"}, b"canary"))


@pytest.fixture(scope="module")
def listed(canary: _CountingServer) -> Iterator[_CountingServer]:
    """A host the policy allows ([revocation] fetch_hosts) that redirects to the canary and
    answers CRLs twice the size limit, one with its length declared and one without."""
    def answer(path: str) -> Answer:
        if path == "/ocsp":
            return 302, {"Location": f"{canary.url}/after-redirect"}, b""
        return 200, {"Content-Type": "application/pkix-crl"}, os.urandom(2 * MB)

    yield from _serving(answer)


# -- the Canary CA and its documents --------------------------------------------------------

def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, issuer: str, key, issuer_key, *, ca: bool, extensions: list = ()) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class CanaryPki:
    root: x509.Certificate
    sub: x509.Certificate
    leaf: x509.Certificate
    leaf_key: rsa.RSAPrivateKey
    urls: dict[str, str]  # what the leaf names: ocsp, crl, ca_issuers (canary); listed_* (the listed host)

    def pem(self, folder: Path, name: str, certificate: x509.Certificate) -> Path:
        path = folder / f"{name}.pem"
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return path

    def signed(self, *, with_issuer: bool) -> bytes:
        """The sample document signed by the leaf, with or without the issuing CA's certificate."""
        def asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
            return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))

        key = asn1_keys.PrivateKeyInfo.load(self.leaf_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        signer = signers.SimpleSigner(signing_cert=asn1(self.leaf), signing_key=key,
                                      cert_registry=SimpleCertificateStore.from_certs(
                                          [asn1(self.sub)] if with_issuer else []))
        out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(SOURCE)),
                               signers.PdfSignatureMetadata(field_name="Signature1"), signer=signer)
        return out.getvalue()


@pytest.fixture(scope="module")
def pki(canary: _CountingServer, listed: _CountingServer) -> CanaryPki:
    root_key, sub_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = _certificate("Canary Root CA", "Canary Root CA", root_key, root_key, ca=True)
    sub = _certificate("Canary Sub CA", "Canary Root CA", sub_key, root_key, ca=True)
    urls = {"ocsp": f"{canary.url}/ocsp", "crl": f"{canary.url}/sub.crl", "ca_issuers": f"{canary.url}/sub.crt",
            "listed_ocsp": f"{listed.url}/ocsp", "listed_crl": f"{listed.url}/big.crl",
            "listed_unsized_crl": f"{listed.url}/unsized.crl"}
    uri = x509.UniformResourceIdentifier
    leaf = _certificate("Canary Signer", "Canary Sub CA", leaf_key, sub_key, ca=False, extensions=[
        x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                      data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                      encipher_only=False, decipher_only=False),
        x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, uri(urls["ca_issuers"])),
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, uri(urls["ocsp"])),
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, uri(urls["listed_ocsp"]))]),
        x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[uri(urls["crl"]), uri(urls["listed_crl"]), uri(urls["listed_unsized_crl"])],
            relative_name=None, reasons=None,
            crl_issuer=None)]),
    ])
    return CanaryPki(root, sub, leaf, leaf_key, urls)


@pytest.fixture(scope="module")
def documents(pki: CanaryPki) -> dict[str, bytes]:
    """``unknown-issuer``: only the leaf inside, its issuer not configured (finding it would take
    the leaf's caIssuers URL); ``anchored``: the issuer inside too, so the chain leads to the
    configured Canary root and the leaf's revocation URLs are wanted."""
    return {"unknown-issuer": pki.signed(with_issuer=False), "anchored": pki.signed(with_issuer=True)}


@pytest.fixture(scope="module")
def config(dev_env: DevEnv, pki: CanaryPki, listed: _CountingServer, tmp_path_factory: pytest.TempPathFactory
           ) -> Path:
    """The development configuration with the Canary root as a further trust anchor (its Sub CA
    is not configured), the listed server in fetch_hosts, and a 1 MB answer limit."""
    folder = tmp_path_factory.mktemp("canary-config")
    root = pki.pem(folder, "canary-root", pki.root)
    text = dev_env.signer_config.read_text()
    text = text.replace("anchors = [", f'anchors = ["{root}", ', 1)
    text = text.replace("[revocation]\n", f'[revocation]\nfetch_hosts = ["{listed.host}"]\n', 1)
    text += "\n[limits]\nverify_fetch_max_mb = 1\n"
    path = folder / "signer.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def daemon(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    with RunningDaemon(config, tmp_path_factory.mktemp("daemon"), allow_origins=(PAGE,), pregranted=(PAGE,),
                       unattended=(PAGE,), limits={"verify_fetch_max_mb": 1}) as running:
        yield running


# -- the three edges -------------------------------------------------------------------------

def verify_api(daemon: RunningDaemon, data: bytes) -> list[dict]:
    reply = call("POST", f"{daemon.url}/v1/verify/pdf", body=data,
                 headers={"Content-Type": "application/pdf", "Origin": PAGE})
    assert reply.status == 200, reply.body
    return reply.json()["signatures"]


def verify_vgca(daemon: RunningDaemon, data: bytes) -> dict:
    async def go() -> dict:
        context = ssl.create_default_context(cafile=str(daemon.tls.ca_cert))
        url = f"wss://127.0.0.1:{daemon.listening.https_port}/VerifyPDF"
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(url, ssl=context, headers={"Origin": PAGE}) as socket:
            await socket.send_str(json.dumps({"Base64Content": base64.b64encode(data).decode()}))
            return json.loads((await socket.receive(timeout=120)).data)

    return asyncio.run(go())


def verify_cli(cli, data: bytes, folder: Path, config: Path, *options: str) -> subprocess.CompletedProcess[str]:
    path = folder / f"document-{len(list(folder.iterdir()))}.pdf"
    path.write_bytes(data)
    done = cli("verify", str(path), *options, env={**os.environ, "SIGNER_CONFIG": str(config)})
    assert_no_traceback(done)
    return done


def refused(fetches: list[dict], url_key: str = "url", outcome_key: str = "outcome", reason_key: str = "reason"
            ) -> dict[str, str]:
    return {f[url_key]: f[reason_key] for f in fetches if f[outcome_key] == "refused"}


def assert_anchored_refusals(pki: CanaryPki, refusals: dict[str, str], listed: _CountingServer) -> None:
    """Every revocation URL the leaf names was wanted, and refused: the canary's host is no CA's,
    the listed host redirected elsewhere and answered too much."""
    assert set(refusals) == {pki.urls[key] for key in ("ocsp", "crl", "listed_ocsp", "listed_crl",
                                                       "listed_unsized_crl")}
    for key in ("ocsp", "crl"):
        assert "is not a host of the configured CAs" in refusals[pki.urls[key]]
    assert "redirected to another scheme, host or port" in refusals[pki.urls["listed_ocsp"]]
    assert "larger than 1024 KB" in refusals[pki.urls["listed_crl"]]
    assert "larger than 1024 KB" in refusals[pki.urls["listed_unsized_crl"]]
    assert pki.urls["ca_issuers"] not in refusals, "the issuer was in the document: nothing to chase"
    assert any(hit.startswith("POST /ocsp") for hit in listed.hits), "the listed host was asked"


UNTRUSTED = "nothing was fetched: the signer's certificate chain does not lead to a configured trust anchor"


def test_no_edge_fetches_what_a_document_names(daemon: RunningDaemon, documents: dict[str, bytes], pki: CanaryPki,
                                              canary: _CountingServer, listed: _CountingServer, config: Path,
                                              dev_env: DevEnv, cli, tmp_path: Path) -> None:
    # POST /v1/verify/pdf
    [unknown] = verify_api(daemon, documents["unknown-issuer"])
    assert (unknown["indication"], unknown["fetching"], unknown["fetches"]) == ("INDETERMINATE", "untrusted-chain", [])
    assert unknown["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND" and UNTRUSTED in unknown["details"]
    [anchored] = verify_api(daemon, documents["anchored"])
    assert (anchored["indication"], anchored["fetching"], anchored["passed"]) == ("INDETERMINATE", "online", False)
    assert "Canary Root CA" in anchored["chain"][-1]
    assert_anchored_refusals(pki, refused(anchored["fetches"]), listed)
    assert {f"not fetched (URL policy): {url}: {reason}" for url, reason in refused(anchored["fetches"]).items()} \
        <= set(anchored["details"])

    # VGCA VerifyPDF
    reply = verify_vgca(daemon, documents["unknown-issuer"])
    [unknown] = reply["Signatures"]
    assert (reply["Status"], reply["Passed"]) == (0, False)
    assert (unknown["Indication"], unknown["Fetching"], unknown["Fetches"]) == ("INDETERMINATE", "untrusted-chain", [])
    assert UNTRUSTED in unknown["Details"]
    [anchored] = verify_vgca(daemon, documents["anchored"])["Signatures"]
    assert (anchored["Indication"], anchored["Fetching"]) == ("INDETERMINATE", "online")
    assert_anchored_refusals(pki, refused(anchored["Fetches"], "Url", "Outcome", "Reason"), listed)

    # signer verify, JSON and text
    folder = tmp_path / "cli"
    folder.mkdir()
    done = verify_cli(cli, documents["unknown-issuer"], folder, config, "--json")
    [unknown] = json.loads(done.stdout)["signatures"]
    assert done.returncode == 10 and (unknown["fetching"], unknown["fetches"]) == ("untrusted-chain", [])
    done = verify_cli(cli, documents["anchored"], folder, config, "--json")
    [anchored] = json.loads(done.stdout)["signatures"]
    assert done.returncode == 10 and (anchored["indication"], anchored["fetching"]) == ("INDETERMINATE", "online")
    assert_anchored_refusals(pki, refused(anchored["fetches"]), listed)
    text = verify_cli(cli, documents["anchored"], folder, config)
    assert text.returncode == 10 and "CHƯA XÁC ĐỊNH / INDETERMINATE" in text.stdout
    assert "Online look-ups: theo chính sách URL / under the URL policy" in text.stdout
    assert f"TỪ CHỐI / REFUSED: {pki.urls['ocsp']} (127.0.0.1:" in text.stdout
    text = verify_cli(cli, documents["unknown-issuer"], folder, config)
    assert "none: the chain does not lead to a configured trust anchor" in text.stdout and "REFUSED" not in text.stdout
    # with the development configuration the Canary root is no anchor at all: nothing is asked either
    done = verify_cli(cli, documents["anchored"], folder, dev_env.signer_config, "--json")
    [untrusted] = json.loads(done.stdout)["signatures"]
    assert (untrusted["trusted"], untrusted["fetching"], untrusted["fetches"]) == (False, "untrusted-chain", [])

    assert canary.hits == [], "a verification reached the canary"


def test_the_configured_ca_is_still_asked(daemon: RunningDaemon, dev_env: DevEnv, canary: _CountingServer) -> None:
    """A document signed with the test PKI's real CA: its OCSP responder and CRL are fetched
    (their host is the one the configured intermediate names) and the signature passes."""
    signed = call("POST", f"{daemon.url}/v1/sign/pdf", body=SOURCE,
                  headers={"Content-Type": "application/pdf", "Origin": PAGE})
    assert signed.status == 200, signed.body
    [report] = verify_api(daemon, signed.body)
    assert (report["indication"], report["revocation"], report["fetching"]) == ("TOTAL-PASSED", "good", "online")
    port = (dev_env.dir / "services.port").read_text().strip()
    assert report["fetches"] and all(f["outcome"] == "fetched" for f in report["fetches"]), report["fetches"]
    assert all(f["url"].startswith(f"http://127.0.0.1:{port}/gov-test/") for f in report["fetches"])
    assert {f["url"].split("/")[4] for f in report["fetches"]} == {"ocsp", "crls"}
    assert canary.hits == []


def test_the_token_certificate_check_fetches_nothing_for_an_unknown_chain(
        private_tokens: DevEnv, pki: CanaryPki, canary: _CountingServer, cli, tmp_path: Path) -> None:
    """The pre-sign check builds the path to a configured anchor from the certificates at hand
    before asking any authority: a token certificate (with its issuer) from a CA that is not
    configured is refused, and none of the addresses it names is asked."""
    settings = tomllib.loads(private_tokens.signer_config.read_text())
    module = settings["tokens"]["modules"][0]
    token, pin = next(iter(settings["pin"]["development"].items()))
    der = {"leaf.der": pki.leaf.public_bytes(serialization.Encoding.DER),
           "sub.der": pki.sub.public_bytes(serialization.Encoding.DER),
           "key.der": pki.leaf_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption())}
    for name, data in der.items():
        (tmp_path / name).write_bytes(data)
    for name, kind, object_id, label in (("key.der", "privkey", "0c", "canary"), ("leaf.der", "cert", "0c", "canary"),
                                         ("sub.der", "cert", "0d", "canary-sub")):
        done = subprocess.run(["pkcs11-tool", "--module", module, "--token-label", token, "--login", "--pin", pin,
                               "--write-object", str(tmp_path / name), "--type", kind, "--id", object_id,
                               "--label", label, *(["--usage-sign"] if kind == "privkey" else [])],
                              capture_output=True, text=True, env=private_tokens.env(), timeout=60)
        assert done.returncode == 0, done.stderr

    refused_sign = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(tmp_path / "out.pdf"),
                       "--cert", "canary", env=private_tokens.env())
    assert refused_sign.returncode == 5 and "CERT_UNTRUSTED" in refused_sign.stderr, refused_sign.stderr
    assert not (tmp_path / "out.pdf").exists()
    assert canary.hits == []


def test_the_policy_allows_http_on_listed_hosts_only() -> None:
    from policies.revocation import load_revocation_policy
    from signer.validation.fetch_policy import build_policy

    revocation = load_revocation_policy({"fetch_hosts": ["OCSP.example.gov.vn", "ca.example.gov.vn:8080",
                                                         "[::1]:9000"]})
    assert revocation.fetch_hosts == ("ocsp.example.gov.vn", "ca.example.gov.vn:8080", "[::1]:9000")
    policy = build_policy([], urls=["https://tsa.example.gov.vn/tsa"], hosts=revocation.fetch_hosts,
                          max_bytes=1, max_requests=1, total_s=1)
    for allowed in ("http://ocsp.example.gov.vn/x", "https://ocsp.example.gov.vn/", "http://ca.example.gov.vn:8080/a",
                    "https://tsa.example.gov.vn/other", "http://[::1]:9000/"):
        assert policy.refusal(allowed) is None, allowed
    assert policy.refusal("http://ocsp.example.gov.vn:8080/") == \
        "ocsp.example.gov.vn:8080 is not a host of the configured CAs"
    assert policy.refusal("http://tsa.example.gov.vn/") == "tsa.example.gov.vn:80 is not a host of the configured CAs"
    assert policy.refusal("ldap://ocsp.example.gov.vn/") == "scheme ldap is not http(s)"
    assert policy.refusal("file:///etc/passwd") == "scheme file is not http(s)"
    assert policy.refusal("http://user:secret@ocsp.example.gov.vn/") == "credentials in the URL"
    for bad in ("http://ocsp.example.gov.vn/", "ocsp.example.gov.vn/crl", "ocsp.example.gov.vn:0", "", 42):
        with pytest.raises(ValueError, match="fetch_hosts"):
            load_revocation_policy({"fetch_hosts": [bad]})
