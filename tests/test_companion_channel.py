"""The daemon <-> companion channel: local, authenticated, and out of reach of web pages."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import aiohttp
import pytest
from conftest import DevEnv
from daemon_harness import RunningDaemon
from http_client import call
from test_tray_dialogs import browser, page_server  # noqa: F401 (fixtures)


async def handshake(address: dict, headers: dict[str, str]) -> int:
    """The HTTP status of a WebSocket upgrade on the channel (101: connected)."""
    if "unix" in address:
        connector, url = aiohttp.UnixConnector(path=address["unix"]), "http://companion/v1/channel"
    else:
        connector, url = aiohttp.TCPConnector(), f"http://127.0.0.1:{address['tcp']}/v1/channel"
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            async with session.ws_connect(url, headers=headers) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


@pytest.mark.parametrize("channel", ["unix", "tcp"])
def test_the_channel_needs_the_secret_and_refuses_any_origin(channel: str, dev_env: DevEnv, tmp_path: Path) -> None:
    with RunningDaemon(dev_env.signer_config, tmp_path, companion_channel=channel) as daemon:
        state = daemon.settings.server.state_dir
        address = json.loads((state / "companion.json").read_text())
        secret = (state / "companion.secret").read_text().strip()
        assert stat.S_IMODE((state / "companion.secret").stat().st_mode) == 0o600
        if channel == "unix":
            assert stat.S_IMODE(Path(address["unix"]).stat().st_mode) == 0o600
        bearer = {"Authorization": f"Bearer {secret}"}
        assert asyncio.run(handshake(address, {})) == 401
        assert asyncio.run(handshake(address, {"Authorization": "Bearer guessed"})) == 401
        assert asyncio.run(handshake(address, {**bearer, "Origin": "http://127.0.0.1:3000"})) == 403
        assert asyncio.run(handshake(address, {**bearer, "Origin": "null"})) == 403
        assert asyncio.run(handshake(address, bearer)) == 101
        for url in (daemon.url, daemon.tls_url):  # the page-facing listeners do not carry it
            reply = call("GET", f"{url}/v1/channel", headers={"Origin": "http://127.0.0.1:3000"},
                         cafile=str(daemon.tls.ca_cert))
            assert reply.status in (403, 404), reply.status
    assert not (state / "companion.json").exists(), "where to connect is removed with the daemon"


@pytest.mark.browser
def test_a_browser_page_cannot_reach_the_companion_channel(browser, page_server: str,  # noqa: F811
                                                            dev_env: DevEnv, tmp_path: Path) -> None:
    """Loopback TCP (the channel where there are no Unix sockets) from a real page: the page
    sends its Origin whatever it does, and the channel refuses it (the WebSocket never opens);
    a plain fetch cannot read a thing. The Unix socket is not a URL a page can name at all."""
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(page_server,),
                       companion_channel="tcp") as daemon:
        port = json.loads((daemon.settings.server.state_dir / "companion.json").read_text())["tcp"]
        page = browser.new_page()
        page.goto(f"{page_server}/libreoffice.pdf")
        outcome = page.evaluate("""async (port) => {
          const socket = await new Promise((resolve) => {
            const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/channel`);
            ws.onopen = () => resolve('open');
            ws.onerror = () => resolve('refused');
          });
          let fetched;
          try { const r = await fetch(`http://127.0.0.1:${port}/v1/channel`); fetched = r.status; }
          catch (error) { fetched = 'blocked'; }
          return {socket, fetched};
        }""", port)
        assert outcome == {"socket": "refused", "fetched": "blocked"}, outcome
        assert daemon.daemon.prompts.companion is None, "nothing got connected"
