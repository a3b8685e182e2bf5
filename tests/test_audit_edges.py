"""Every edge signs through the service and leaves exactly one audit line per signature.

Each edge signs once with its own fresh state folder; the audit log is read once nothing
runs any more, and each signature's line is found by the document's SHA-256, computed here
from the input, with the certificate's SHA-256 taken from the signed output itself."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from conftest import DOCUMENTS, DevEnv
from daemon_harness import RunningDaemon
from docsys import DocumentSystem, Running
from http_client import call
from pdf_checks import assert_pdfsig_all_valid, embedded_signatures
from test_batches import create, wait_final
from test_vgca import document_frame, vgca

SIGNER = Path(sys.executable).parent / "signer"  # the installed console script
FIRST, SECOND = "libreoffice.pdf", "pdflatex.pdf"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pdf_certificate_sha256(signed: bytes) -> str:
    (signature,) = embedded_signatures(signed)
    return sha256(signature.signer_cert.dump())


def cms_certificate_sha256(der: bytes) -> str:
    """The certificate the SignerInfo names (issuer and serial), among those the SignedData carries."""
    signed_data = cms.ContentInfo.load(der)["content"]
    (signer_info,) = signed_data["signer_infos"]
    sid = signer_info["sid"].chosen
    (certificate,) = [c.chosen for c in signed_data["certificates"]
                      if c.chosen.issuer == sid["issuer"] and c.chosen.serial_number == sid["serial_number"].native]
    return sha256(certificate.dump())


def audit_lines(state: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]


def assert_one_line(lines: list[dict[str, Any]], operation: str, document: bytes, certificate_sha256: str,
                    origin: str) -> None:
    """Exactly one line for this document, and it is the signature's, complete and OK."""
    mine = [line for line in lines if line["document_sha256"] == sha256(document)]
    assert len(mine) == 1, lines
    assert {k: mine[0][k] for k in ("origin", "operation", "result", "certificate_sha256", "document_sha256",
                                    "document_size")} == {
        "origin": origin, "operation": operation, "result": "OK", "certificate_sha256": certificate_sha256,
        "document_sha256": sha256(document), "document_size": len(document)}


def cli_config(dev_env: DevEnv, folder: Path) -> tuple[Path, Path]:
    """A copy of the development config whose state folder (audit log, journal) is ``folder/state``."""
    state = folder / "state"
    config = folder / "signer.toml"
    config.write_text(dev_env.signer_config.read_text().replace("[server]\n", f'[server]\nstate_dir = "{state}"\n'))
    return config, state


def signer(config: Path, dev_env: DevEnv, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(SIGNER), *args, "--config", str(config)], capture_output=True, text=True,
                          env=dev_env.env(), timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_cli_sign(dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = cli_config(dev_env, tmp_path)
    source, out = tmp_path / "in.pdf", tmp_path / "out.pdf"
    source.write_bytes((DOCUMENTS / FIRST).read_bytes())
    signer(config, dev_env, "sign", str(source), "-o", str(out))
    assert_pdfsig_all_valid(out, 1)
    lines = audit_lines(state)
    assert len(lines) == 1, lines
    assert_one_line(lines, "cli sign", source.read_bytes(), pdf_certificate_sha256(out.read_bytes()), "cli")


def test_cli_sign_cms(dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = cli_config(dev_env, tmp_path)
    source, out = tmp_path / "in.pdf", tmp_path / "out.p7s"
    source.write_bytes((DOCUMENTS / FIRST).read_bytes())
    signer(config, dev_env, "sign-cms", str(source), "-o", str(out))
    verified = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(out),
                               "-content", str(source), "-CAfile", str(dev_env.root_cert), "-purpose", "any",
                               "-out", "/dev/null"], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    lines = audit_lines(state)
    assert len(lines) == 1, lines
    assert_one_line(lines, "cli sign-cms", source.read_bytes(), cms_certificate_sha256(out.read_bytes()), "cli")


def test_cli_sign_batch(dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = cli_config(dev_env, tmp_path)
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    for name in (FIRST, SECOND):
        (folder / name).write_bytes((DOCUMENTS / name).read_bytes())
    summary = json.loads(signer(config, dev_env, "sign-batch", str(folder), "-o", str(out), "--json").stdout)
    assert (summary["state"], summary["done"]) == ("done", 2), summary
    lines = audit_lines(state)
    assert len(lines) == 2, lines  # one per document
    for index, name in enumerate((FIRST, SECOND)):  # documents are taken in name order
        signed = out / f"{Path(name).stem}-signed.pdf"
        assert_pdfsig_all_valid(signed, 1)
        assert_one_line(lines, f"batch {summary['id']} item {index}", (folder / name).read_bytes(),
                        pdf_certificate_sha256(signed.read_bytes()), "cli")


def test_api_sign_pdf(dev_env: DevEnv, tmp_path: Path) -> None:
    document = (DOCUMENTS / FIRST).read_bytes()
    with RunningDaemon(dev_env.signer_config, tmp_path) as daemon:
        reply = call("POST", f"{daemon.url}/v1/sign/pdf", body=document,
                     headers={**daemon.auth, "Content-Type": "application/pdf"})
        assert reply.status == 200, reply.body
    out = tmp_path / "out.pdf"
    out.write_bytes(reply.body)
    assert_pdfsig_all_valid(out, 1)
    lines = daemon.audit_lines()  # read once the daemon has stopped: nothing is left to write
    assert len(lines) == 1, lines
    assert_one_line(lines, "POST /v1/sign/pdf", document, pdf_certificate_sha256(reply.body), "api-token")


@pytest.mark.parametrize("path", ["SignPDF", "SignApproved"])
def test_vgca_socket(path: str, dev_env: DevEnv, tmp_path: Path) -> None:
    with Running(DocumentSystem()) as docsys:
        with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(docsys.url,),
                           pregranted=(docsys.url,), unattended=(docsys.url,)) as daemon:
            reply = vgca(daemon, path, document_frame(docsys, FIRST), origin=docsys.url)
            assert reply["Status"] == 0, reply
        (upload,) = docsys.uploads
    out = tmp_path / "out.pdf"
    out.write_bytes(upload.data)
    assert_pdfsig_all_valid(out, 1)
    lines = daemon.audit_lines()
    assert len(lines) == 1, lines
    assert_one_line(lines, f"GET /{path}", (DOCUMENTS / FIRST).read_bytes(), pdf_certificate_sha256(upload.data),
                    origin=docsys.url)


def test_api_batch(dev_env: DevEnv, tmp_path: Path) -> None:
    documents = [(name, (DOCUMENTS / name).read_bytes()) for name in (FIRST, SECOND)]
    with RunningDaemon(dev_env.signer_config, tmp_path) as daemon:
        batch_id = create(daemon.url, documents, daemon.auth)
        status = wait_final(daemon.url, batch_id, daemon.auth)
        assert (status["state"], status["done"]) == ("done", 2), status
        outputs = []
        for index in range(2):
            reply = call("GET", f"{daemon.url}/v1/batches/{batch_id}/items/{index}", headers=daemon.auth)
            assert reply.status == 200, reply.body
            outputs.append(reply.body)
    lines = daemon.audit_lines()
    for index, ((_, document), signed) in enumerate(zip(documents, outputs)):
        out = tmp_path / f"{index}.pdf"
        out.write_bytes(signed)
        assert_pdfsig_all_valid(out, 1)
        assert_one_line(lines, f"batch {batch_id} item {index}", document, pdf_certificate_sha256(signed),
                        "api-token")
    created = [line for line in lines if line["operation"] == "POST /v1/batches"]
    assert len(created) == 1 and created[0]["result"] == "OK", lines
    assert created[0]["document_size"] == sum(len(d) for _, d in documents)
    # besides: this test's own status polls and downloads, one line per request
    polled = f"GET /v1/batches/{batch_id}"
    counts = Counter(line["operation"] for line in lines)
    assert counts[polled] >= 1 and counts == {
        "POST /v1/batches": 1, f"batch {batch_id} item 0": 1, f"batch {batch_id} item 1": 1,
        f"{polled}/items/0": 1, f"{polled}/items/1": 1, polled: counts[polled]}, lines
