"""Damaged but readable PDFs (fixtures/documents/damaged/): signed in their lossless rewrite
through the command line, /v1/sign/pdf, the VGCA paths and a batch, each saying so; a damaged
signed PDF refused with DOCUMENT_DAMAGED; a file qpdf cannot read either still DOCUMENT_INVALID."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import DOCUMENTS, DevEnv, signer_cli
from daemon_harness import RunningDaemon
from docsys import JWT, SESSION, DocumentSystem, Running
from http_client import call
from pdf_checks import assert_pdfsig_all_valid
from test_audit_edges import audit_lines, cli_config
from test_vgca import document_frame, vgca

from signer.engine import budget, pdf, repair
from signer.errors import Code, SignerError
from signer.service.repaired import NOTE_EN, NOTE_VI

DAMAGED = DOCUMENTS / "damaged"
PAGE = "http://127.0.0.1:5173"
# each damaged file, and the intact sample it was made from
READABLE = {"stream-dictionary.pdf": "libreoffice.pdf", "wrong-startxref.pdf": "libreoffice.pdf",
            "missing-xref.pdf": "reportlab-10-pages.pdf", "wrong-length.pdf": "libreoffice.pdf"}
SIGNED = DAMAGED / "signed-damaged.pdf"
UNREADABLE = [DOCUMENTS / "bad-not-a-pdf.pdf", DOCUMENTS / "bad-truncated.pdf"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_of(path: Path) -> str:
    done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_clean_and_lossless(signed: Path, sample: str) -> None:
    """Valid per pdfsig, clean per qpdf (exit 0, no warning), the sample's text all there (a
    visible block adds its own)."""
    assert_pdfsig_all_valid(signed, 1)
    checked = subprocess.run(["qpdf", "--check", str(signed)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "WARNING" not in checked.stdout + checked.stderr, checked.stdout
    words = Counter(text_of(DOCUMENTS / sample).split())
    assert words and not words - Counter(text_of(signed).split())


def assert_repaired_line(line: dict, document: bytes) -> None:
    assert line["result"] == "OK" and line["repaired"] is True
    assert line["document_sha256"] == sha256(document) and line["document_size"] == len(document)
    assert line["repaired_sha256"] not in (None, sha256(document))


# -- the fixtures are what they claim ---------------------------------------------------

@pytest.mark.parametrize("name", [*READABLE, SIGNED.name])
def test_fixture_opens_elsewhere_but_not_in_pyhanko(name: str) -> None:
    path = DAMAGED / name
    with pytest.raises(SignerError) as refused:
        pdf.open_pdf(path.read_bytes())
    assert refused.value.code is Code.DOCUMENT_INVALID
    checked = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 3 and "WARNING" in checked.stdout + checked.stderr  # damaged, recovered
    assert text_of(path).strip()


def test_rewrite_bounded_by_the_budget() -> None:
    """A rewrite larger than the budget allows is refused, not signed."""
    data = (DAMAGED / "wrong-length.pdf").read_bytes()
    damage = SignerError(Code.DOCUMENT_INVALID, "damaged")
    packaged = budget.current()
    budget.configure(budget.ReadBudget(packaged.anchor_search_pages, packaged.decoded_max_bytes,
                                       packaged.decoded_max_ratio, rewritten_max_bytes=len(data) // 2))
    try:
        with pytest.raises(SignerError) as refused:
            repair.rewrite(data, damage)
        assert refused.value.code is Code.DOCUMENT_TOO_COMPLEX
    finally:
        budget.configure(packaged)
    assert len(repair.rewrite(data, damage)) < 2 * len(data)


# -- the command line ---------------------------------------------------------------------

@pytest.mark.parametrize("name", READABLE)
def test_cli_signs_the_rewrite(name: str, dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = cli_config(dev_env, tmp_path)
    source, out = DAMAGED / name, tmp_path / "out.pdf"
    done = signer_cli("sign", str(source), "-o", str(out), "--json", "--config", str(config), env=dev_env.env())
    assert done.returncode == 0, done.stderr
    assert f"{NOTE_VI} / {NOTE_EN}" in done.stderr
    result = json.loads(done.stdout)
    assert result["repaired"] is True and result["input_sha256"] == sha256(source.read_bytes())
    assert_clean_and_lossless(out, READABLE[name])
    (line,) = audit_lines(state)
    assert line["operation"] == "cli sign" and line["repaired_sha256"] == result["repaired_sha256"]
    assert_repaired_line(line, source.read_bytes())


def test_cli_intact_document_not_repaired(dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = cli_config(dev_env, tmp_path)
    out = tmp_path / "out.pdf"
    done = signer_cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out), "--json", "--config", str(config),
                      env=dev_env.env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["repaired"] is False and NOTE_EN not in done.stderr
    (line,) = audit_lines(state)
    assert "repaired" not in line and "repaired_sha256" not in line


def test_cli_refuses_a_damaged_signed_pdf(dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = cli_config(dev_env, tmp_path)
    out = tmp_path / "out.pdf"
    done = signer_cli("sign", str(SIGNED), "-o", str(out), "--config", str(config), env=dev_env.env())
    assert done.returncode == SignerError(Code.DOCUMENT_DAMAGED).exit_code == 4, done.stderr
    assert "DOCUMENT_DAMAGED" in done.stderr and "intact copy" in done.stderr and "bản không bị hỏng" in done.stderr
    assert not out.exists()
    (line,) = audit_lines(state)
    assert line["result"] == "DOCUMENT_DAMAGED"


def test_cli_batch_signs_the_rewrite(dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = cli_config(dev_env, tmp_path)
    inputs = tmp_path / "in"
    inputs.mkdir()
    damaged = (DAMAGED / "wrong-startxref.pdf").read_bytes()
    (inputs / "a.pdf").write_bytes(damaged)
    (inputs / "b.pdf").write_bytes((DOCUMENTS / "pdflatex.pdf").read_bytes())
    (tmp_path / "out").mkdir()
    done = signer_cli("sign-batch", str(inputs), "-o", str(tmp_path / "out"), "--config", str(config),
                      env=dev_env.env())
    assert done.returncode == 0, done.stderr
    assert f"a.pdf: {NOTE_VI} / {NOTE_EN}" in done.stderr and "b.pdf:" not in done.stderr
    assert_clean_and_lossless(tmp_path / "out" / "a-signed.pdf", READABLE["wrong-startxref.pdf"])
    (line,) = [line for line in audit_lines(state) if line["document_sha256"] == sha256(damaged)]
    assert_repaired_line(line, damaged)


@pytest.mark.parametrize("path", UNREADABLE, ids=lambda p: p.name)
def test_cli_unrepairable_still_invalid(path: Path, dev_env: DevEnv, tmp_path: Path) -> None:
    done = signer_cli("sign", str(path), "-o", str(tmp_path / "out.pdf"), env=dev_env.env())
    assert done.returncode == 4 and "DOCUMENT_INVALID" in done.stderr, done.stderr


# -- the daemon: /v1, VGCA, a VGCA batch ----------------------------------------------------

@pytest.fixture(scope="module")
def docsys():
    with Running(DocumentSystem()) as system:
        yield system


@pytest.fixture(scope="module")
def daemon(dev_env: DevEnv, docsys: DocumentSystem, tmp_path_factory: pytest.TempPathFactory):
    with RunningDaemon(dev_env.signer_config, tmp_path_factory.mktemp("damaged"), allow_origins=(PAGE, docsys.url),
                       pregranted=(PAGE, docsys.url), unattended=(PAGE, docsys.url)) as running:
        yield running


def sign_pdf(daemon: RunningDaemon, data: bytes):
    return call("POST", f"{daemon.url}/v1/sign/pdf", body=data,
                headers={"Content-Type": "application/pdf", "Origin": PAGE, "Accept": "application/json"})


def line_for(daemon: RunningDaemon, document: bytes, before: int) -> dict:
    """The one line for ``document`` among those written since there were ``before``."""
    since = daemon.audit_settled(before + 1)[before:]
    (line,) = [line for line in since if line["document_sha256"] == sha256(document)]
    return line


@pytest.mark.parametrize("name", READABLE)
def test_api_signs_the_rewrite(name: str, daemon: RunningDaemon, tmp_path: Path) -> None:
    data = (DAMAGED / name).read_bytes()
    before = len(daemon.audit_lines())
    reply = sign_pdf(daemon, data)
    assert reply.status == 200, reply.body
    result = reply.json()
    assert result["repaired"] is True and (result["note"], result["note_vi"]) == (NOTE_EN, NOTE_VI)
    assert result["input_sha256"] == sha256(data)
    out = tmp_path / "signed.pdf"
    out.write_bytes(base64.b64decode(result["pdf"]))
    assert_clean_and_lossless(out, READABLE[name])
    line = line_for(daemon, data, before)
    assert line["repaired_sha256"] == result["repaired_sha256"]
    assert_repaired_line(line, data)


def test_api_raw_reply_names_the_rewrite(daemon: RunningDaemon) -> None:
    data = (DAMAGED / "stream-dictionary.pdf").read_bytes()
    reply = call("POST", f"{daemon.url}/v1/sign/pdf", body=data,
                 headers={"Content-Type": "application/pdf", "Origin": PAGE})
    assert reply.status == 200, reply.body
    assert reply.headers["x-document-sha256"] == sha256(data)
    assert reply.headers["x-document-repaired-sha256"] not in ("", sha256(data))


def test_api_intact_document_not_repaired(daemon: RunningDaemon) -> None:
    reply = sign_pdf(daemon, (DOCUMENTS / "libreoffice.pdf").read_bytes())
    assert reply.status == 200 and reply.json()["repaired"] is False and "note" not in reply.json()


def test_api_refuses_a_damaged_signed_pdf(daemon: RunningDaemon) -> None:
    reply = sign_pdf(daemon, SIGNED.read_bytes())
    assert reply.status == 422, reply.body
    assert reply.code == "DOCUMENT_DAMAGED" and "intact copy" in reply.json()["message"]


@pytest.mark.parametrize("path", UNREADABLE, ids=lambda p: p.name)
def test_api_unrepairable_still_invalid(path: Path, daemon: RunningDaemon) -> None:
    reply = sign_pdf(daemon, path.read_bytes())
    assert (reply.status, reply.code) == (422, "DOCUMENT_INVALID"), reply.body


def test_vgca_sign_pdf_says_it_was_repaired(daemon: RunningDaemon, docsys: DocumentSystem, tmp_path: Path) -> None:
    data = (DAMAGED / "stream-dictionary.pdf").read_bytes()
    docsys.stored["damaged.pdf"] = data
    before, lines = len(docsys.uploads), len(daemon.audit_lines())
    reply = vgca(daemon, "SignPDF", document_frame(docsys, "damaged.pdf"), origin=docsys.url)
    assert reply["Status"] == 0 and reply["Message"] == NOTE_VI, reply
    out = tmp_path / "uploaded.pdf"
    out.write_bytes(docsys.uploads[before].data)
    assert_clean_and_lossless(out, "libreoffice.pdf")
    assert_repaired_line(line_for(daemon, data, lines), data)


def test_vgca_refuses_a_damaged_signed_pdf(daemon: RunningDaemon, docsys: DocumentSystem) -> None:
    docsys.stored["signed-damaged.pdf"] = SIGNED.read_bytes()
    before = len(docsys.uploads)
    reply = vgca(daemon, "SignApproved", document_frame(docsys, "signed-damaged.pdf"), origin=docsys.url)
    assert (reply["Status"], reply["Code"]) == (3, "DOCUMENT_DAMAGED"), reply
    assert "bản không bị hỏng" in reply["Message"] and len(docsys.uploads) == before


def test_vgca_batch_signs_the_rewrite(daemon: RunningDaemon, docsys: DocumentSystem, tmp_path: Path) -> None:
    damaged = (DAMAGED / "missing-xref.pdf").read_bytes()
    docsys.stored["batch-damaged.pdf"] = damaged
    docsys.stored["batch-signed-damaged.pdf"] = SIGNED.read_bytes()
    before, lines = len(docsys.uploads), len(daemon.audit_lines())
    frame = {
        "FileUploadHandler": f"{docsys.url}/upload", "SessionId": SESSION, "JWTToken": JWT,
        "Files": [
            {"FileID": 1, "FileName": "a.pdf", "URL": f"{docsys.url}/download/batch-damaged.pdf"},
            {"FileID": 2, "FileName": "b.pdf", "URL": f"{docsys.url}/download/libreoffice.pdf"},
            {"FileID": 3, "FileName": "c.pdf", "URL": f"{docsys.url}/download/batch-signed-damaged.pdf"},
        ],
    }
    reply = vgca(daemon, "SignFiles", frame, origin=docsys.url)
    by_id = {f["FileID"]: f for f in reply["Files"]}
    assert (by_id[1]["Status"], by_id[1]["Message"]) == (0, NOTE_VI), reply
    assert (by_id[2]["Status"], by_id[2]["Message"]) == (0, ""), reply
    assert by_id[3]["Status"] == 3 and "bản không bị hỏng" in by_id[3]["Message"], reply
    (upload,) = [u for u in docsys.uploads[before:] if u.fields["FileID"] == "1"]
    out = tmp_path / "batch.pdf"
    out.write_bytes(upload.data)
    assert_clean_and_lossless(out, "reportlab-10-pages.pdf")
    assert_repaired_line(line_for(daemon, damaged, lines), damaged)
