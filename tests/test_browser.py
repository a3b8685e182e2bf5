"""A real headless Chromium page signs through fetch(); a page from another origin cannot."""

from __future__ import annotations

import base64
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
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def test_allowed_page_signs_and_foreign_page_cannot(
    browser, page_server: int, dev_env: DevEnv, tmp_path: Path
) -> None:
    allowed = f"http://127.0.0.1:{page_server}"
    foreign = f"http://localhost:{page_server}"  # same server, another origin
    with RunningDaemon(dev_env.signer_config, tmp_path / "daemon", allow_origins=(allowed,),
                       pregranted=(allowed,)) as daemon:
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
        results = [(line["origin"], line["result"]) for line in daemon.audit_lines()]
        assert (allowed, "OK") in results
        assert any(origin == foreign and result == "ORIGIN_NOT_ALLOWED" for origin, result in results)
        page.close()
