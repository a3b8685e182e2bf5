"""Scopes that hold: consent per origin and certificate, a raw scope for content the daemon
cannot show (the forged-placeholder attack), Config behind consent, and the back-off after
refused dialogs. The real daemon, a real companion core over the real channel whose dialogs
are answered by a script, the VGCA protocol over wss."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from asn1crypto import cms
from conftest import DOCUMENTS, DevEnv, signer_cli
from daemon_harness import RunningDaemon
from http_client import Reply, call
from pdf_checks import assert_pdfsig_all_valid
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument

from signer.service.consent import ANY
from signer.service.prompts import RAW_NOTICE
from tray.bridge import DialogBridge
from tray.core import TrayCore

PAGE = "http://127.0.0.1:5174"
PDF = (DOCUMENTS / "libreoffice.pdf").read_bytes()


# -- the official, scripted --------------------------------------------------------------

class ScriptedDialogs:
    """Answers each consent dialog with ``decide(prompt)`` and keeps every prompt it was shown."""

    def __init__(self, decide: Callable[[dict[str, Any]], str]) -> None:
        self.decide = decide
        self.prompts: list[dict[str, Any]] = []

    def open(self, bridge: DialogBridge) -> None:
        if bridge.kind == "consent":
            data = bridge.state()["data"]
            self.prompts.append(data)
            threading.Thread(target=bridge.answer, args=(self.decide(data),), daemon=True).start()

    def close(self, bridge: DialogBridge) -> None:
        pass


@contextmanager
def scripted_companion(daemon: RunningDaemon, decide: Callable[[dict[str, Any]], str]) -> Iterator[ScriptedDialogs]:
    dialogs = ScriptedDialogs(decide)
    core = TrayCore(daemon.settings.server.state_dir, dialogs)
    core.start()
    assert core.connected.wait(10), core.error
    try:
        yield dialogs
    finally:
        core.stop()


def always(decision: str) -> Callable[[dict[str, Any]], str]:
    return lambda prompt: decision


# -- calls as pages make them -------------------------------------------------------------

def post(daemon: RunningDaemon, path: str, body: bytes, content_type: str = "application/pdf") -> Reply:
    return call("POST", f"{daemon.url}{path}", headers={"Origin": PAGE, "Content-Type": content_type}, body=body)


def vgca(daemon: RunningDaemon, path: str, frame: Any) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        context = ssl.create_default_context(cafile=str(daemon.tls.ca_cert))
        url = f"wss://127.0.0.1:{daemon.listening.https_port}/{path}"
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(url, ssl=context, headers={"Origin": PAGE}) as socket:
            await socket.send_str(frame if isinstance(frame, str) else json.dumps(frame))
            message = await socket.receive(timeout=120)
            return json.loads(message.data)

    return asyncio.run(go())


def fingerprint(key_store: Any, label: str) -> str:
    return key_store.token_key(label).certificate.sha256.hex()


@pytest.fixture
def daemon(dev_env: DevEnv, tmp_path: Path) -> Iterator[RunningDaemon]:
    # exempt from the per-signature confirmation (tests/test_confirmation.py): these are about scopes
    with RunningDaemon(dev_env.signer_config, tmp_path / "daemon", allow_origins=(PAGE,), unattended=(PAGE,),
                       consent_timeout_s=20) as running:
        yield running


# -- the forged placeholder ---------------------------------------------------------------

ASCII_PDF_OBJECTS = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
]
PAGE_TEXT = "BT /F1 12 Tf 72 770 Td (Chuyen 10 ty dong) Tj ET"


def ascii_pdf() -> bytes:
    """A small PDF of ASCII only, so that its byte ranges are also valid JSON text (SignJson)."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    objects = [*ASCII_PDF_OBJECTS, f"<< /Length {len(PAGE_TEXT)} >>\nstream\n{PAGE_TEXT}\nendstream"]
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


class Placeholder:
    """What the attacking page builds itself: a PDF with a signature placeholder, and the bytes
    its signature must cover (everything but the placeholder)."""

    def __init__(self, certificate: Any) -> None:
        signer = signers.ExternalSigner(certificate, None, signature_value=bytes(256))
        pdf_signer = signers.PdfSigner(signers.PdfSignatureMetadata(field_name="Forged"), signer=signer)
        writer = IncrementalPdfFileWriter(io.BytesIO(ascii_pdf()))
        self.prepared, _, self.output = asyncio.run(pdf_signer.async_digest_doc_for_signing(writer,
                                                                                           bytes_reserved=16384))
        data = self.output.getvalue()
        self.covered = (data[:self.prepared.reserved_region_start] + data[self.prepared.reserved_region_end:])

    def finish(self, signature_der: bytes, path: Path) -> None:
        PdfTBSDocument.finish_signing(self.output, self.prepared, cms.ContentInfo.load(signature_der))
        path.write_bytes(self.output.getvalue())


def test_the_document_scope_does_not_sign_a_page_s_own_placeholder(daemon: RunningDaemon, key_store: Any,
                                                                  tmp_path: Path) -> None:
    leader = key_store.token_key("leader")
    placeholder = Placeholder(leader.certificate)
    text = placeholder.covered.decode("utf-8")  # SignJson signs the text's UTF-8: the same bytes
    daemon.daemon.consent_store.grant(PAGE, ["sign"], leader.certificate.sha256.hex())

    calls_before = daemon.token_calls
    refused = post(daemon, "/v1/sign/cms", placeholder.covered, "application/octet-stream")
    assert (refused.status, refused.code) == (403, "CONSENT_DENIED"), refused.body
    refused_json = vgca(daemon, "SignJson", {"JsonContent": text})
    assert (refused_json["Status"], refused_json["Code"]) == (8, "CONSENT_DENIED"), refused_json
    assert daemon.token_calls == calls_before, "no certificate's consent covers raw content: the token is untouched"
    assert post(daemon, "/v1/sign/pdf", PDF).status == 200, "the document scope itself still signs"

    def raw_once(prompt: dict[str, Any]) -> str:
        return "once" if prompt["scope"] == "raw" else "refuse"

    with scripted_companion(daemon, raw_once) as official:
        signed = post(daemon, "/v1/sign/cms", placeholder.covered, "application/octet-stream")
        assert signed.status == 200, signed.body
        signed_json = vgca(daemon, "SignJson", {"JsonContent": text})
        assert signed_json["Status"] == 0, signed_json
    assert len(official.prompts) == 2
    for prompt in official.prompts:
        assert (prompt["scope"], prompt["notice_en"], prompt["notice_vi"]) == ("raw", *RAW_NOTICE)
        assert "cannot be shown" in prompt["notice_en"] and "Không thể hiển thị" in prompt["notice_vi"]
        assert prompt["certificate"]["sha256"] == leader.certificate.sha256.hex()
    assert [p["operation"] for p in official.prompts] == ["raw", "raw"]
    assert not daemon.daemon.consent_store.granted(PAGE, "raw"), "once is not remembered"

    # what the raw scope can do, and why it has its own dialog: the page's placeholder, filled
    placeholder.finish(signed.body, tmp_path / "forged.pdf")
    assert_pdfsig_all_valid(tmp_path / "forged.pdf", 1)


def test_a_bare_digest_needs_the_raw_scope_too(daemon: RunningDaemon, key_store: Any) -> None:
    daemon.daemon.consent_store.grant(PAGE, ["sign"])  # documents, any certificate: not raw
    digest = base64.b64encode(bytes(32)).decode()
    reply = post(daemon, "/v1/sign/hash", json.dumps({"hash": digest}).encode(), "application/json")
    assert (reply.status, reply.code) == (403, "CONSENT_DENIED")
    message = vgca(daemon, "SignMsg", {"HashAlg": "SHA256", "HashValue": digest})
    assert (message["Status"], message["Code"]) == (8, "CONSENT_DENIED")
    daemon.daemon.consent_store.grant(PAGE, ["raw"], fingerprint(key_store, "leader"))
    assert post(daemon, "/v1/sign/hash", json.dumps({"hash": digest}).encode(), "application/json").status == 200
    assert vgca(daemon, "SignMsg", {"HashAlg": "SHA256", "HashValue": digest})["Status"] == 0


def test_auth_signs_the_daemon_s_statement_under_the_document_scope(daemon: RunningDaemon, key_store: Any) -> None:
    daemon.daemon.consent_store.grant(PAGE, ["sign"], fingerprint(key_store, "leader"))
    reply = vgca(daemon, "Auth", {"Challenge": "n-123"})
    assert reply["Status"] == 0, reply
    assert json.loads(base64.b64decode(reply["SignedData"])) == {"origin": PAGE, "challenge": "n-123"}


# -- per certificate ------------------------------------------------------------------------

def test_consent_for_the_leader_does_not_let_the_page_pick_the_clerk(daemon: RunningDaemon, key_store: Any) -> None:
    leader, clerk = fingerprint(key_store, "leader"), fingerprint(key_store, "clerk")
    daemon.daemon.consent_store.grant(PAGE, ["sign"], leader)
    assert post(daemon, "/v1/sign/pdf?cert=leader", PDF).status == 200
    nobody = post(daemon, "/v1/sign/pdf?cert=clerk", PDF)
    assert (nobody.status, nobody.code) == (403, "CONSENT_DENIED"), "nobody to ask: refused"
    assert daemon.audit_lines()[-1]["certificate_sha256"] == clerk

    with scripted_companion(daemon, always("always")) as official:
        assert post(daemon, "/v1/sign/pdf?cert=leader", PDF).status == 200
        assert official.prompts == [], "the leader's consent stands"
        assert post(daemon, "/v1/sign/pdf?cert=clerk", PDF).status == 200
        assert [p["certificate"]["sha256"] for p in official.prompts] == [clerk], "asked again, for the clerk"
        assert post(daemon, "/v1/sign/pdf?cert=clerk", PDF).status == 200
        assert len(official.prompts) == 1, "'always' is remembered for the certificate shown"
    assert daemon.daemon.consent_store.certificates(PAGE) == {leader: {"sign"}, clerk: {"sign"}}


def test_a_consent_from_before_certificates_is_asked_again(daemon: RunningDaemon, key_store: Any) -> None:
    path = daemon.settings.server.state_dir / "consents.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({PAGE: {"scopes": ["hash", "sign"], "granted_at": "2025-01-01T00:00:00+00:00"}}))
    assert daemon.daemon.consent_store.described(PAGE) == ["hash, sign @ (cũ, sẽ hỏi lại / old, asked again)"]
    with scripted_companion(daemon, always("always")) as official:
        assert post(daemon, "/v1/sign/pdf", PDF).status == 200
    assert [p["scope"] for p in official.prompts] == ["sign"]
    leader = fingerprint(key_store, "leader")
    assert json.loads(path.read_text())[PAGE]["certificates"] == {leader: ["sign"]}
    assert daemon.daemon.consent_store.described(PAGE) == [f"sign @ {leader}"]


def test_a_grant_for_any_certificate_covers_every_certificate(daemon: RunningDaemon) -> None:
    daemon.daemon.consent_store.grant(PAGE, ["sign"], ANY)
    assert post(daemon, "/v1/sign/pdf?cert=leader", PDF).status == 200
    assert post(daemon, "/v1/sign/pdf?cert=clerk", PDF).status == 200
    assert daemon.daemon.consent_store.described(PAGE) == ["sign @ mọi chứng thư / any certificate"]


def test_origins_grant_for_one_certificate_and_list_say_which(dev_env: DevEnv, key_store: Any, tmp_path: Path) -> None:
    from test_serve_cli import daemon_config

    config, env, leader = daemon_config(dev_env, tmp_path), dev_env.env(), fingerprint(key_store, "leader")
    colons = ":".join(leader[i:i + 2] for i in range(0, 64, 2)).upper()  # as openssl prints it
    assert signer_cli("origins", "grant", PAGE, "--raw", "--cert", colons, "--allow", "--config", str(config),
                      env=env).returncode == 0
    assert signer_cli("origins", "grant", PAGE, "--config", str(config), env=env).returncode == 0
    listed = json.loads(signer_cli("origins", "list", "--json", "--config", str(config), env=env).stdout)
    assert listed["consents"][PAGE]["certificates"] == {leader: ["raw", "sign"], ANY: ["sign"]}
    text = signer_cli("origins", "list", "--config", str(config), env=env).stdout
    assert f"    raw, sign @ {leader}\n" in text and "    sign @ mọi chứng thư / any certificate\n" in text
    bad = signer_cli("origins", "grant", PAGE, "--cert", "leader", "--config", str(config), env=env)
    assert bad.returncode == 9 and "BAD_REQUEST" in bad.stderr


# -- listings -----------------------------------------------------------------------------

def test_config_and_listings_refuse_an_unconsented_origin(daemon: RunningDaemon) -> None:
    config = vgca(daemon, "Config", "config")
    assert (config["Status"], config["Code"]) == (8, "CONSENT_DENIED") and "Config" not in config
    for path in ("/v1/tokens", "/v1/certificates"):
        listed = call("GET", f"{daemon.url}{path}", headers={"Origin": PAGE})
        assert (listed.status, listed.code) == (403, "CONSENT_DENIED"), path
    daemon.daemon.consent_store.grant(PAGE, ["sign"])
    config = vgca(daemon, "Config", "config")
    assert config["Status"] == 0 and "Token Le Hong Son" in config["Config"]["Tokens"]


# -- back-off -----------------------------------------------------------------------------

class StoppedClock:
    """The back-off's clock, moved on only by the test: what is measured is the daemon's
    interval, never how fast this machine answers."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_refusing_three_dialogs_in_a_row_backs_the_page_off(dev_env: DevEnv, tmp_path: Path) -> None:
    answers = ["refuse", "refuse", "refuse", "once", "refuse"]
    clock = StoppedClock()

    def next_answer(prompt: dict[str, Any]) -> str:
        return answers.pop(0)

    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(PAGE,), consent_timeout_s=20) as daemon, \
            scripted_companion(daemon, next_answer) as official:
        assert daemon.daemon.signing.service.consent is not None
        daemon.daemon.signing.service.consent.backoff.clock = clock
        for refusal, interval in enumerate((5, 10, 20)):  # policies/limits.toml: 5 s, doubling
            refused = post(daemon, "/v1/sign/pdf", PDF)
            assert (refused.status, refused.code) == (403, "CONSENT_DENIED")
            assert len(official.prompts) == refusal + 1
            backed_off = post(daemon, "/v1/sign/pdf", PDF)
            assert (backed_off.status, backed_off.code) == (429, "CONSENT_BACKOFF"), backed_off.body
            assert backed_off.headers["retry-after"] == str(interval)
            if refusal < 2:
                clock.now += interval
        calls_before = daemon.token_calls
        clock.now += 15
        digest = json.dumps({"hash": base64.b64encode(bytes(32)).decode()}).encode()
        again = [post(daemon, "/v1/sign/pdf", PDF), post(daemon, "/v1/sign/hash", digest, "application/json"),
                 call("GET", f"{daemon.url}/v1/certificates", headers={"Origin": PAGE})]
        assert [(r.status, r.code, r.headers["retry-after"]) for r in again] == [(429, "CONSENT_BACKOFF", "5")] * 3
        socket_reply = vgca(daemon, "SignJson", {"JsonContent": "x"})
        assert (socket_reply["Status"], socket_reply["Code"]) == (8, "CONSENT_BACKOFF")
        assert len(official.prompts) == 3, "no dialog while backed off"
        assert daemon.token_calls == calls_before
        results = [line["result"] for line in daemon.audit_settled(10)]
        assert results.count("CONSENT_BACKOFF") == 3 + 4 and results.count("CONSENT_DENIED") == 3

        clock.now += 5
        allowed = post(daemon, "/v1/sign/pdf", PDF)
        assert allowed.status == 200, "after the interval a dialog is shown again"
        assert len(official.prompts) == 4
        assert post(daemon, "/v1/sign/pdf", PDF).code == "CONSENT_DENIED"
        restarted = post(daemon, "/v1/sign/pdf", PDF)
        assert restarted.headers["retry-after"] == "5", "an allowed dialog started the interval over"
