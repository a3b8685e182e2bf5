"""A page's EventSource on GET /v1/events in a real headless Chromium: a virtual card inserted into
and removed from a virtual reader (pcscd + vsmartcard) reaches the page with its ATR, before the
origin was granted any consent, and with nothing of a certificate; another origin gets nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import DevEnv
from daemon_harness import RunningDaemon
from pcsc_harness import GUARD_S, VICC_ATR, end, pcscd, vicc  # noqa: F401  (pcscd is a fixture)
from test_browser import browser, playwright  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

LISTEN = """
(daemonUrl) => {
  window.tokenEvents = [];
  const source = new EventSource(daemonUrl + '/v1/events');
  for (const kind of ['present', 'arrived', 'left']) {
    source.addEventListener(kind, (event) =>
      window.tokenEvents.push({kind, at: Date.now(), data: JSON.parse(event.data)}));
  }
  source.onerror = () => window.tokenEvents.push({kind: 'error', at: Date.now(), state: source.readyState});
}
"""
CERTIFICATE_WORDS = ("certificate", "holder", "subject", "issuer", "common_name", "serial_number")


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[int]:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>Hệ thống quản lý văn bản</title>", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def wait_for(page, kind: str, source: str | None = None) -> dict:
    """The first event of this kind (from this watcher: a SoftHSM token whose first poll ends after
    the page connected arrives as an event too, being missing from ``present``)."""
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        events = page.evaluate("window.tokenEvents")
        found = [e for e in events if e["kind"] == kind and (source is None or e["data"]["source"] == source)]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no {kind} event: {page.evaluate('window.tokenEvents')}")


def test_card_in_and_out_reaches_the_page_with_its_atr(browser, pages: int, pcscd: int,  # noqa: F811
                                                        dev_env: DevEnv, tmp_path: Path) -> None:
    allowed, foreign = f"http://127.0.0.1:{pages}", f"http://localhost:{pages}"
    with RunningDaemon(dev_env.signer_config, tmp_path / "daemon", allow_origins=(allowed,)) as daemon:
        page = browser.new_page()
        page.goto(f"{allowed}/index.html")
        page.evaluate(LISTEN, daemon.url)
        present = wait_for(page, "present")["data"]
        assert "pcsc" in present["watchers"], present
        other = browser.new_page()
        other.goto(f"{foreign}/index.html")
        other.evaluate(LISTEN, daemon.url)

        inserted = time.time()
        card = vicc(pcscd)
        arrived = wait_for(page, "arrived", "pcsc")
        removed = time.time()
        end(card)
        left = wait_for(page, "left", "pcsc")

        for event in (arrived, left):
            data = event["data"]
            assert (data["source"], data["atr"], data["reader"]) == ("pcsc", VICC_ATR, "Virtual PCD 00 00"), data
            assert not any(word in key for key in data for word in CERTIFICATE_WORDS), data
        assert arrived["data"]["kind"] == "arrived" and left["data"]["kind"] == "left"
        print(f"card inserted -> page: {arrived['at'] / 1000 - inserted:.3f} s; "
              f"removed -> page: {left['at'] / 1000 - removed:.3f} s")

        refused = other.evaluate("window.tokenEvents")
        assert refused and all(e["kind"] == "error" for e in refused), refused  # 403: the browser saw no event
        consents = tmp_path / "daemon" / "state" / "consents.json"
        assert not consents.exists() or allowed not in consents.read_text(), "the events came with no consent"
        page.close()
        other.close()
    lines = [(e["operation"], (e.get("device") or {}).get("atr")) for e in daemon.audit_lines()]
    assert ("token.arrived", VICC_ATR) in lines and ("token.left", VICC_ATR) in lines, lines
