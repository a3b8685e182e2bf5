"""Batches end to end over a real socket: many documents, one approval, progress events,
cancel, another origin, a wrong PIN, and a daemon killed mid-batch."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from conftest import DOCUMENTS, DevEnv, pdfsig, signer_cli
from daemon_harness import RunningDaemon
from http_client import call
from test_serve_cli import daemon_config, start

PAGE = "http://127.0.0.1:5190"
OTHER_PAGE = "http://127.0.0.1:5191"
PRODUCERS = ["libreoffice.pdf", "pdflatex.pdf", "reportlab-10-pages.pdf", "form.pdf", "incremental.pdf",
             "already-signed.pdf", "pdfa.pdf", "attachment.pdf"]


def batch_body(files: list[tuple[str, bytes]], fields: dict[str, str] | None = None) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    chunks = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
              for k, v in (fields or {}).items()]
    for name, data in files:
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                      f"Content-Type: application/pdf\r\n\r\n".encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def create(url: str, files: list[tuple[str, bytes]], headers: dict[str, str], **fields: str) -> str:
    body, content_type = batch_body(files, fields)
    reply = call("POST", f"{url}/v1/batches", headers={**headers, "Content-Type": content_type}, body=body)
    assert reply.status == 201, reply.body
    assert reply.json()["total"] == len(files)
    return reply.json()["id"]


def wait_final(url: str, batch_id: str, headers: dict[str, str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = call("GET", f"{url}/v1/batches/{batch_id}", headers=headers).json()
        if status["state"] in ("done", "failed", "cancelled"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} did not finish: {status}")


@pytest.fixture(scope="module")
def daemon(dev_env: DevEnv, tmp_path_factory: pytest.TempPathFactory):
    with RunningDaemon(dev_env.signer_config, tmp_path_factory.mktemp("batches"),
                       allow_origins=(PAGE, OTHER_PAGE), pregranted=(PAGE, OTHER_PAGE),
                       unattended=(PAGE, OTHER_PAGE)) as running:
        yield running


def test_thirty_documents_from_several_producers_one_approval(daemon: RunningDaemon, tmp_path: Path) -> None:
    files = [(f"{i:02d}-{name}", (DOCUMENTS / name).read_bytes()) for i, name in
             enumerate(PRODUCERS[i % len(PRODUCERS)] for i in range(30))]
    page = {"Origin": PAGE}
    batch_id = create(daemon.url, files, page, profile="plain")
    status = wait_final(daemon.url, batch_id, page)
    assert (status["state"], status["done"], status["failed"]) == ("done", 30, 0), status
    assert [i["name"] for i in status["items"]] == [name for name, _ in files]
    for item in status["items"]:
        reply = call("GET", f"{daemon.url}/v1/batches/{batch_id}/items/{item['index']}", headers=page)
        assert reply.status == 200 and reply.headers["content-type"] == "application/pdf"
        out = tmp_path / f"{item['index']}.pdf"
        out.write_bytes(reply.body)
        report = pdfsig(out)
        assert "Signature is Invalid" not in report and report.count("Signature is Valid.") >= 1, report

    for path in (f"/v1/batches/{batch_id}", f"/v1/batches/{batch_id}/items/0", f"/v1/batches/{batch_id}/events"):
        other = call("GET", f"{daemon.url}{path}", headers={"Origin": OTHER_PAGE})
        assert (other.status, other.code) == (404, "NOT_FOUND"), path
    assert call("DELETE", f"{daemon.url}/v1/batches/{batch_id}", headers={"Origin": OTHER_PAGE}).status == 404
    lines = [e for e in daemon.audit_lines() if e["operation"].startswith(f"batch {batch_id} item ")]
    assert sorted(e["operation"] for e in lines) == sorted(f"batch {batch_id} item {i}" for i in range(30))
    assert {e["result"] for e in lines} == {"OK"}


def assert_each_item_signed_once(config: Path, env: DevEnv, batch_id: str, total: int) -> None:
    """By the audit log: every item of the batch has exactly one successful signature."""
    audit = signer_cli("audit", "--json", "--since", "1h", "--config", str(config), env=env.env())
    signed = Counter(e["operation"] for e in json.loads(audit.stdout)
                     if e["operation"].startswith(f"batch {batch_id} item ") and e["result"] == "OK")
    assert len(signed) == total and set(signed.values()) == {1}, "every item signed exactly once"


def events(url: str, batch_id: str, headers: dict[str, str], on_event) -> list[dict]:
    """Read the Server-Sent Events stream to its end, calling ``on_event`` for each event."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("GET", f"/v1/batches/{batch_id}/events", headers=headers)
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    received, data = [], None
    for raw in response:
        line = raw.decode().rstrip("\n")
        if line.startswith("data: "):
            data = json.loads(line[6:])
        elif not line and data is not None:
            received.append(data)
            on_event(data)
            data = None
    conn.close()
    return received


def test_cancel_midway_keeps_the_signed_ones(daemon: RunningDaemon) -> None:
    page = {"Origin": PAGE}
    batch_id = create(daemon.url, [(f"{i}.pdf", (DOCUMENTS / "reportlab-10-pages.pdf").read_bytes())
                                   for i in range(80)], page, level="B-B")
    cancelled = []

    def cancel_after_the_first(event: dict) -> None:
        if event["event"] == "item" and not cancelled:
            cancelled.append(call("DELETE", f"{daemon.url}/v1/batches/{batch_id}", headers=page).status)

    received = events(daemon.url, batch_id, page, cancel_after_the_first)
    assert cancelled == [202]
    items = [e for e in received if e["event"] == "item"]
    assert sorted(e["index"] for e in items) == list(range(80)), "one event per item, each once"
    assert received[-1]["event"] == "batch" and received[-1]["state"] == "cancelled"
    status = call("GET", f"{daemon.url}/v1/batches/{batch_id}", headers=page).json()
    states = Counter(i["state"] for i in status["items"])
    assert states["signed"] >= 1 and states["cancelled"] >= 1 and set(states) == {"signed", "cancelled"}, states
    first_signed = next(i["index"] for i in status["items"] if i["state"] == "signed")
    assert call("GET", f"{daemon.url}/v1/batches/{batch_id}/items/{first_signed}", headers=page).status == 200
    first_cancelled = next(i["index"] for i in status["items"] if i["state"] == "cancelled")
    assert call("GET", f"{daemon.url}/v1/batches/{batch_id}/items/{first_cancelled}", headers=page).status == 404


def test_a_wrong_pin_fails_the_batch_once(private_tokens: DevEnv, tmp_path: Path) -> None:
    config = daemon_config(private_tokens, tmp_path)
    config.write_text(config.read_text().replace('= "12345678"', '= "99999999"'))
    process, port, _ = start(config, private_tokens)  # its own process: its own SoftHSM tokens
    try:
        url = f"http://127.0.0.1:{port}"
        token = {"Authorization": f"Bearer {(tmp_path / 'api-token').read_text().strip()}"}
        batch_id = create(url, [(f"{i}.pdf", (DOCUMENTS / "libreoffice.pdf").read_bytes()) for i in range(5)],
                          token, level="B-B")
        status = wait_final(url, batch_id, token)
    finally:
        process.terminate()
        process.wait(30)
    assert status["state"] == "failed"
    assert {(i["state"], i["error"]) for i in status["items"]} == {("failed", "PIN_INCORRECT")}
    again = signer_cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(tmp_path / "x.pdf"),
                       "--config", str(config), env=private_tokens.env())
    assert "PIN_SOURCE_REFUSED" in again.stderr, "the token counted one wrong PIN: it was not retried"


def test_removing_the_token_mid_batch_then_it_carries_on_when_the_token_is_back(private_tokens: DevEnv,
                                                                                tmp_path: Path) -> None:
    """The leader's SoftHSM token folder is moved away (the token is pulled out) after a few
    signatures, and back (plugged in again): the daemon's watcher sees it arrive and the batch
    carries on by itself, every document signed once."""
    config = daemon_config(private_tokens, tmp_path)
    total = 200
    process, port, _ = start(config, private_tokens)
    url = f"http://127.0.0.1:{port}"
    tokens = next(folder for folder in (private_tokens.dir / "tokens").iterdir()
                  if b"Token Le Hong Son" in (folder / "token.object").read_bytes())
    away = tmp_path / "pulled-out"
    try:
        token = {"Authorization": f"Bearer {(tmp_path / 'api-token').read_text().strip()}"}
        batch_id = create(url, [(f"{i}.pdf", (DOCUMENTS / "libreoffice.pdf").read_bytes()) for i in range(total)],
                          token, level="B-B")
        signed: list[int] = []

        def pull_out_after_three(event: dict) -> None:
            if event["event"] == "item" and event["state"] == "signed":
                signed.append(event["index"])
                if len(signed) == 3:
                    tokens.rename(away)

        events(url, batch_id, token, pull_out_after_three)
        status = call("GET", f"{url}/v1/batches/{batch_id}", headers=token).json()
        states = Counter((i["state"], i["error"]) for i in status["items"])
        assert status["state"] == "failed" and set(states) == {("signed", None), ("failed", "TOKEN_NOT_PRESENT")}, states
        done_before = states[("signed", None)]
        assert 3 <= done_before < total, states
        kept = next(i["index"] for i in status["items"] if i["state"] == "signed")
        assert call("GET", f"{url}/v1/batches/{batch_id}/items/{kept}", headers=token).status == 200

        deadline = time.monotonic() + 60
        while not token_moves(tmp_path, "token.left"):  # seen gone (a real token is, at once; SoftHSM's
            assert time.monotonic() < deadline, "the token's removal was not seen"  # at the next slot poll)
            time.sleep(0.2)
        away.rename(tokens)  # no resume call: the token's arrival resumes the batch
        while call("GET", f"{url}/v1/batches/{batch_id}", headers=token).json()["state"] == "failed":
            assert time.monotonic() < deadline, "the batch did not carry on when the token came back"
            time.sleep(0.2)
        status = wait_final(url, batch_id, token)
        assert (status["state"], status["done"]) == ("done", total), Counter(i["error"] for i in status["items"])
        for index in (kept, total - 1):
            out = tmp_path / f"{index}.pdf"
            out.write_bytes(call("GET", f"{url}/v1/batches/{batch_id}/items/{index}", headers=token).body)
            assert pdfsig(out).count("Signature is Valid.") == 1, index
    finally:
        if away.exists():
            away.rename(tokens)
        process.terminate()
        process.wait(30)
    assert_each_item_signed_once(config, private_tokens, batch_id, total)
    assert token_moves(tmp_path, "token.left") == token_moves(tmp_path, "token.arrived") == ["Token Le Hong Son"]


def token_moves(folder: Path, operation: str) -> list[str]:
    """The labels of the PKCS#11 tokens the audit log has arriving (or leaving)."""
    lines = [json.loads(line) for line in (folder / "state" / "audit.jsonl").read_text().splitlines()]
    return [e["device"]["label"] for e in lines if e["operation"] == operation and e["device"]["source"] == "pkcs11"]


def test_sigkill_mid_batch_resumes_on_restart_without_signing_twice(dev_env: DevEnv, tmp_path: Path) -> None:
    config = daemon_config(dev_env, tmp_path)
    total = 40
    process, port, _ = start(config, dev_env)
    url = f"http://127.0.0.1:{port}"
    try:
        token = {"Authorization": f"Bearer {(tmp_path / 'api-token').read_text().strip()}"}
        batch_id = create(url, [(f"{i}.pdf", (DOCUMENTS / "reportlab-10-pages.pdf").read_bytes())
                                for i in range(total)], token, level="B-B")
        while call("GET", f"{url}/v1/batches/{batch_id}", headers=token).json()["done"] < 5:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        folder = tmp_path / "state" / "batches" / batch_id
        assert json.loads((folder / "batch.json").read_text())["state"] == "running"
        assert 5 <= len(list((folder / "outputs").glob("*.pdf"))) < total, "killed mid-batch"

        process, port, _ = start(config, dev_env)
        url = f"http://127.0.0.1:{port}"
        status = wait_final(url, batch_id, token)
        assert (status["state"], status["done"]) == ("done", total), status
        for index in range(total):
            out = tmp_path / f"{index}.pdf"
            out.write_bytes(call("GET", f"{url}/v1/batches/{batch_id}/items/{index}", headers=token).body)
            assert pdfsig(out).count("Signature is Valid.") == 1, index
    finally:
        process.terminate()
        process.wait(30)
    assert_each_item_signed_once(config, dev_env, batch_id, total)


def test_sign_batch_command(cli, tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    for name in ("libreoffice.pdf", "pdflatex.pdf", "reportlab-10-pages.pdf"):
        (folder / name).write_bytes((DOCUMENTS / name).read_bytes())
    (folder / "notes.txt").write_text("not a PDF: not taken")
    (folder / "hong.pdf").write_bytes(b"%PDF-1.7\n broken")
    done = cli("sign-batch", str(folder), "-o", str(out), "--level", "B-B", "--json")
    assert done.returncode == 11, done.stderr  # one document could not be signed
    summary = json.loads(done.stdout)
    assert (summary["total"], summary["done"], summary["failed"]) == (4, 3, 1)
    assert [i["error"] for i in summary["items"] if i["state"] == "failed"] == ["DOCUMENT_INVALID"]
    assert sorted(p.name for p in out.iterdir()) == [
        "libreoffice-signed.pdf", "pdflatex-signed.pdf", "reportlab-10-pages-signed.pdf"]
    for signed in out.iterdir():
        assert pdfsig(signed).count("Signature is Valid.") == 1
    progress = cli("sign-batch", str(folder / "libreoffice.pdf"), "-o", str(out), "--level", "B-B")
    assert progress.returncode == 0 and "1/1" in progress.stderr


def test_a_page_leaving_the_event_stream_stops_its_listener(daemon: RunningDaemon) -> None:
    page = {"Origin": PAGE}
    batch_id = create(daemon.url, [(f"{i}.pdf", (DOCUMENTS / "reportlab-10-pages.pdf").read_bytes())
                                   for i in range(30)], page, level="B-B")
    host, port = daemon.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("GET", f"/v1/batches/{batch_id}/events", headers=page)
    response = conn.getresponse()
    assert response.readline().startswith(b"event: ")
    conn.close()  # the page goes away mid-batch
    assert wait_final(daemon.url, batch_id, page)["state"] == "done"
    deadline = time.monotonic() + 10
    while daemon.daemon.signing.batches.progress._listeners.get(batch_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not daemon.daemon.signing.batches.progress._listeners.get(batch_id), "no listener is left behind"


def test_the_preparing_process_starts_with_a_batch_and_stops_when_idle(dev_env: DevEnv, tmp_path: Path) -> None:
    """An idle daemon holds no worker process: one starts with the first batch and stops after
    the configured idle time."""
    import multiprocessing

    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(PAGE,), pregranted=(PAGE,),
                       unattended=(PAGE,),
                       limits={"document_worker_idle_s": 2}) as daemon:
        pool = daemon.daemon.signing.batches.pool
        before = set(multiprocessing.active_children())
        assert not pool.running, "no worker before the first batch"
        batch_id = create(daemon.url, [("a.pdf", (DOCUMENTS / "libreoffice.pdf").read_bytes())], {"Origin": PAGE},
                          level="B-B")
        assert wait_final(daemon.url, batch_id, {"Origin": PAGE})["state"] == "done"
        assert pool.running and set(multiprocessing.active_children()) - before, "the batch started a worker"
        deadline = time.monotonic() + 30
        while pool.running and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not pool.running, "the worker stops after the idle time"
        deadline = time.monotonic() + 30
        while set(multiprocessing.active_children()) - before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not set(multiprocessing.active_children()) - before, "its process is gone"
