"""A real headless Chromium page signs through fetch(); a page from another origin cannot."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import DOCUMENTS, DevEnv
from daemon_harness import RunningDaemon
from pdf_checks import assert_pdfsig_all_valid
from playwright.sync_api import sync_playwright

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]

pytestmark = pytest.mark.browser

SIGN_IN_PAGE = """
async (daemonUrl) => {
  const pdf = await (await fetch('/libreoffice.pdf')).arrayBuffer();
  try {
    const reply = await fetch(daemonUrl + '/v1/sign/pdf?reason=Ph%C3%AA%20duy%E1%BB%87t', {
      method: 'POST', body: pdf,
      headers: {'Content-Type': 'application/pdf', 'Accept': 'application/json'},
    });
    return {status: reply.status, body: await reply.json()};
  } catch (error) {
    return {error: String(error)};
  }
}
"""


@pytest.fixture(scope="module")
def page_server() -> Iterator[int]:
    handler = partial(SimpleHTTPRequestHandler, directory=str(DOCUMENTS))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def playwright():
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright):
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield chromium
    chromium.close()


def test_allowed_page_signs_and_foreign_page_cannot(
    browser, page_server: int, dev_env: DevEnv, tmp_path: Path
) -> None:
    allowed = f"http://127.0.0.1:{page_server}"
    foreign = f"http://localhost:{page_server}"  # same server, another origin
    # refusals are counted per window: a short one lets the foreign page's line land at once
    with RunningDaemon(dev_env.signer_config, tmp_path / "daemon", allow_origins=(allowed,),
                       pregranted=(allowed,), unattended=(allowed,), limits={"refusal_window_s": 0.001}) as daemon:
        page = browser.new_page()
        page.goto(f"{allowed}/libreoffice.pdf")
        result = page.evaluate(SIGN_IN_PAGE, daemon.url)
        assert result.get("status") == 200, result
        signed = tmp_path / "from-browser.pdf"
        signed.write_bytes(base64.b64decode(result["body"]["pdf"]))
        assert_pdfsig_all_valid(signed, 1)
        assert result["body"]["signer"] == "Lê Hồng Sơn"

        calls_before = daemon.token_calls
        page.goto(f"{foreign}/libreoffice.pdf")
        refused = page.evaluate(SIGN_IN_PAGE, daemon.url)
        assert "error" in refused, refused  # the browser sees a network error: no CORS for this origin
        assert daemon.token_calls == calls_before
        results = [(line["origin"], line["result"]) for line in daemon.audit_settled(2)]
        assert (allowed, "OK") in results
        assert any(origin == foreign and result == "ORIGIN_NOT_ALLOWED" for origin, result in results)
        page.close()


PLUGIN_CALL = """
async ([url, frame]) => new Promise((resolve) => {
  // the calling pattern of vgcaplugin.js: a new socket per call, send on open, answer on message
  const socket = new WebSocket(url);
  socket.onopen = () => socket.send(frame);
  socket.onmessage = (event) => { resolve(JSON.parse(event.data)); socket.close(); };
  socket.onerror = () => resolve({error: 'socket error'});
})
"""


def spki_pin(certificate_pem: bytes) -> str:
    """Chromium's --ignore-certificate-errors-spki-list value: base64 SHA-256 of the SPKI."""
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_vgca_plugin_pattern_in_chromium(playwright, dev_env: DevEnv, tmp_path: Path) -> None:
    from docsys import JWT, SESSION, DocumentSystem, Running

    with Running(DocumentSystem()) as docsys, RunningDaemon(
        dev_env.signer_config, tmp_path / "daemon", allow_origins=(docsys.url,), pregranted=(docsys.url,),
        unattended=(docsys.url,),
    ) as daemon:
        pin = spki_pin(daemon.tls.server_cert.read_bytes())
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*ARGS, f"--ignore-certificate-errors-spki-list={pin}"])
        try:
            page = chromium.new_page()
            page.goto(f"{docsys.url}/")  # a page of the document system
            frame = json.dumps({
                "FileUploadHandler": f"{docsys.url}/upload", "SessionId": SESSION, "JWTToken": JWT,
                "FileName": f"{docsys.url}/download/libreoffice.pdf", "MetaData": [{"Key": "ID", "Value": "7"}],
            })
            url = f"wss://127.0.0.1:{daemon.listening.https_port}/SignApproved"
            reply = page.evaluate(PLUGIN_CALL, [url, frame])
            assert reply.get("Status") == 0, reply
            signed = tmp_path / "uploaded.pdf"
            signed.write_bytes(docsys.uploads[-1].data)
            assert_pdfsig_all_valid(signed, 1)
            assert docsys.uploads[-1].fields == {"ID": "7"}
        finally:
            chromium.close()


BATCH_WITH_EVENTS = """
async ([daemonUrl, count]) => {
  const pdf = await (await fetch('/libreoffice.pdf')).blob();
  const form = new FormData();
  form.append('level', 'B-B');
  for (let i = 0; i < count; i++) form.append('file', pdf, `van-ban-${i}.pdf`);
  const created = await fetch(daemonUrl + '/v1/batches', {method: 'POST', body: form});
  if (created.status !== 201) return {status: created.status, body: await created.text()};
  const {id} = await created.json();
  return await new Promise((resolve) => {
    const events = [];
    const source = new EventSource(`${daemonUrl}/v1/batches/${id}/events`);
    source.addEventListener('item', (e) => events.push(JSON.parse(e.data)));
    source.addEventListener('batch', (e) => {
      events.push(JSON.parse(e.data));
      source.close();
      resolve({status: 201, events});
    });
    source.onerror = () => { source.close(); resolve({status: 201, events, error: 'EventSource error'}); };
  });
}
"""


def test_batch_progress_reaches_the_page_through_event_source(
    browser, page_server: int, dev_env: DevEnv, tmp_path: Path
) -> None:
    allowed = f"http://127.0.0.1:{page_server}"
    # refusals are counted per window: a short one lets the foreign page's line land at once
    with RunningDaemon(dev_env.signer_config, tmp_path / "daemon", allow_origins=(allowed,),
                       pregranted=(allowed,), unattended=(allowed,), limits={"refusal_window_s": 0.001}) as daemon:
        page = browser.new_page()
        page.goto(f"{allowed}/libreoffice.pdf")
        result = page.evaluate(BATCH_WITH_EVENTS, [daemon.url, 6])
        page.close()
    assert result["status"] == 201 and "error" not in result, result
    items = [e for e in result["events"] if e["event"] == "item"]
    assert sorted(e["index"] for e in items) == list(range(6)) and {e["state"] for e in items} == {"signed"}
    assert result["events"][-1] == {**result["events"][-1], "event": "batch", "state": "done", "done": 6}
