"""A public page reaches the daemon in real Chromium only as an installed machine would let it.

No ``--ignore-certificate-errors``: the local CA is trusted through the test user's own NSS
database (``signer tls trust`` with HOME in a temporary folder), and the page's origin is marked
public, so Local Network Access applies. Without the managed policy written by ``signer browsers
policies`` the page is blocked before any request is sent, and ``signer browsers`` says why; with
it the page signs through ``https://127.0.0.1:PORT/v1`` and ``wss://127.0.0.1:PORT``.

The one file written outside temporary folders is Chromium's managed policy, removed afterwards
(and its folders, if the test made them), so later browser tests see the machine as it was.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DevEnv, free_port, signer_cli
from daemon_harness import RunningDaemon
from docsys import JWT, SESSION, DocumentSystem, Running
from pdf_checks import assert_pdfsig_all_valid
from playwright.sync_api import sync_playwright
from test_browser import ARGS, CHROMIUM

from signer.browsers.nss import NICKNAME
from signer.browsers.policies import FILE_NAME, POLICY_NAMES

pytestmark = [pytest.mark.browser, pytest.mark.managed_policy]

CHROMIUM_MANAGED = Path("/etc/chromium/policies/managed")

SIGN_OVER_HTTPS = """
async ([daemonUrl, session, jwt]) => {
  document.cookie = `SessionId=${session}`;
  const pdf = await (await fetch('/download/libreoffice.pdf', {headers: {Authorization: `Bearer ${jwt}`}}))
    .arrayBuffer();
  try {
    const reply = await fetch(daemonUrl + '/v1/sign/pdf', {
      method: 'POST', body: pdf, headers: {'Content-Type': 'application/pdf', 'Accept': 'application/json'},
    });
    return {status: reply.status, body: await reply.json()};
  } catch (error) {
    return {error: String(error)};
  }
}
"""

# the calling pattern of vgcaplugin.js: a new socket per call, send on open, answer on message
SIGN_OVER_WSS = """
async ([url, frame]) => new Promise((resolve) => {
  const socket = new WebSocket(url);
  socket.onopen = () => socket.send(frame);
  socket.onmessage = (event) => { resolve(JSON.parse(event.data)); socket.close(); };
  socket.onerror = () => resolve({error: 'socket error'});
})
"""


# what docs/local-network-access.md tells integrators to read: the loopback permission's state
PERMISSION = """
async () => (await navigator.permissions.query({name: 'loopback-network'})).state
"""

# a daemon that is not there: with the permission granted, only the connection fails
NOT_RUNNING = """
async (url) => {
  try { await fetch(url + '/v1/health'); return 'reached'; } catch (error) { return String(error); }
}
"""


@pytest.fixture
def chromium_policy_folder() -> Iterator[Path]:
    """Chromium's managed policy folder without our file; afterwards exactly as it was."""
    ours = CHROMIUM_MANAGED / FILE_NAME
    made = [folder for folder in (CHROMIUM_MANAGED.parent, CHROMIUM_MANAGED) if not folder.exists()]
    before = ours.read_bytes() if ours.exists() else None
    ours.unlink(missing_ok=True)
    try:
        yield CHROMIUM_MANAGED
    finally:
        ours.unlink(missing_ok=True)
        if before is not None:
            ours.write_bytes(before)
        for folder in reversed(made):
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()


def user_env(dev_env: DevEnv, home: Path, config: Path) -> dict[str, str]:
    """The environment of a user whose home (and so whose NSS database) is the test's own."""
    env = {k: v for k, v in dev_env.env().items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), SIGNER_CONFIG=str(config))
    return env


def certutil_listing(home: Path) -> str:
    done = subprocess.run(["certutil", "-L", "-d", f"sql:{home}/.pki/nssdb"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def chromium_verdict(env: dict[str, str], origin: str) -> dict:
    done = signer_cli("browsers", "--origin", origin, "--json", env=env)
    assert done.returncode == 0, done.stderr
    verdicts = json.loads(done.stdout)[origin]
    return next(v for v in verdicts if v["browser"] == "chromium")


@dataclass
class Attempt:
    over_https: dict
    over_wss: dict
    console: list[str]  # where Chromium says why it stopped a request
    permission: tuple[str, str]  # the loopback permission's state before and after the calls
    not_running: str  # a call to a loopback port where nothing listens


def try_both_ways(playwright, env: dict[str, str], docsys: DocumentSystem, daemon: RunningDaemon) -> Attempt:
    """Open the document system's page (public origin) in a fresh Chromium; sign over https, then wss."""
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, env=env,
        args=[*ARGS, f"--ip-address-space-overrides=127.0.0.1:{docsys.port}=public"])
    try:
        page = chromium.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(f"{docsys.url}/")
        before = page.evaluate(PERMISSION)
        over_https = page.evaluate(SIGN_OVER_HTTPS, [daemon.tls_url, SESSION, JWT])
        frame = json.dumps({
            "FileUploadHandler": f"{docsys.url}/upload", "SessionId": SESSION, "JWTToken": JWT,
            "FileName": f"{docsys.url}/download/libreoffice.pdf", "MetaData": [{"Key": "ID", "Value": "17"}],
        })
        wss = f"wss://127.0.0.1:{daemon.listening.https_port}/SignApproved"
        over_wss = page.evaluate(SIGN_OVER_WSS, [wss, frame])
        after = page.evaluate(PERMISSION)
        not_running = page.evaluate(NOT_RUNNING, f"https://127.0.0.1:{free_port()}")
        return Attempt(over_https, over_wss, console, (before, after), not_running)
    finally:
        chromium.close()


def test_public_page_signs_only_with_the_managed_policy_and_the_trusted_ca(
    dev_env: DevEnv, tmp_path: Path, chromium_policy_folder: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with Running(DocumentSystem()) as docsys, RunningDaemon(
        dev_env.signer_config, tmp_path / "daemon", allow_origins=(docsys.url,), pregranted=(docsys.url,),
        unattended=(docsys.url,),
    ) as daemon, sync_playwright() as playwright:
        # what an installed machine has: the allowed origin in the configuration, the daemon's TLS folder
        config = tmp_path / "signer.toml"
        config.write_text(f'[server]\ntls_dir = "{daemon.settings.server.tls_dir}"\n'
                          f'allowed_origins = ["{docsys.url}"]\n')
        env = user_env(dev_env, home, config)

        trusted = signer_cli("tls", "trust", env=env)
        assert trusted.returncode == 0, trusted.stderr
        assert f"chromium-family ({home}/.pki/nssdb): đã thêm / added" in trusted.stdout
        assert any(line.split()[:4] == [*NICKNAME.split(), "C,,"] for line in certutil_listing(home).splitlines())

        # without the policy: blocked before any request reaches the daemon, and signer browsers says why
        verdict = chromium_verdict(env, docsys.url)
        assert (verdict["certificate_trusted"], verdict["policy_files"], verdict["reaches_daemon"]) == \
            (True, [], False)
        assert any(f"no managed policy allows {docsys.url}" in reason for reason in verdict["reasons_en"])
        blocked = try_both_ways(playwright, env, docsys, daemon)
        assert "Failed to fetch" in blocked.over_https.get("error", ""), blocked.over_https
        assert blocked.over_wss == {"error": "socket error"}
        assert any("denied for this request to access the `loopback` address space" in line
                   for line in blocked.console), blocked.console
        assert any("net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS" in line for line in blocked.console)
        assert blocked.permission == ("prompt", "denied")  # headless answers the prompt with "no"
        assert daemon.token_calls == 0 and daemon.audit_lines() == [] and docsys.uploads == []

        # the policy written from the configured origins: the same page signs both ways
        written = signer_cli("browsers", "policies", "--write", "--browser", "chromium", env=env)
        assert written.returncode == 0, written.stderr
        policy = json.loads((chromium_policy_folder / FILE_NAME).read_text())
        assert policy == {name: [docsys.url] for name in POLICY_NAMES}
        verdict = chromium_verdict(env, docsys.url)
        assert (verdict["certificate_trusted"], verdict["reaches_daemon"], verdict["reasons_en"]) == (True, True, [])
        assert verdict["policy_files"] == [str(chromium_policy_folder / FILE_NAME)]

        allowed = try_both_ways(playwright, env, docsys, daemon)
        assert allowed.permission == ("granted", "granted")
        assert "Failed to fetch" in allowed.not_running  # granted, yet unreachable: not installed or not running
        over_https, over_wss = allowed.over_https, allowed.over_wss
        assert over_https.get("status") == 200, over_https
        signed = tmp_path / "over-https.pdf"
        signed.write_bytes(base64.b64decode(over_https["body"]["pdf"]))
        assert_pdfsig_all_valid(signed, 1)
        assert over_wss.get("Status") == 0, over_wss
        uploaded = tmp_path / "over-wss.pdf"
        uploaded.write_bytes(docsys.uploads[-1].data)
        assert_pdfsig_all_valid(uploaded, 1)
        assert docsys.uploads[-1].fields == {"ID": "17"}
