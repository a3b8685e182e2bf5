"""`signer serve` as a process: both listeners, and a graceful stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from companion_harness import answering_companion
from conftest import DOCUMENTS, DevEnv, signer_cli
from http_client import call

from signer.service.consent import ConsentStore

PAGE = "http://127.0.0.1:5180"


def daemon_config(dev_env: DevEnv, folder: Path) -> Path:
    config = folder / "signer.toml"
    config.write_text(dev_env.signer_config.read_text()
                      .replace("[server]\n", f"""[server]
tls_dir = "{folder / 'tls'}"
state_dir = "{folder / 'state'}"
api_token_file = "{folder / 'api-token'}"
""").replace("[consent]\n", "[consent]\ntimeout_s = 20\n"))
    return config


def start(config: Path, dev_env: DevEnv, origin: str = PAGE, **popen: Any) -> tuple[subprocess.Popen, int, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "signer", "serve", "--config", str(config), "--port", "0", "--tls-port", "0",
         "--allow-origin", origin],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dev_env.env(), **popen)
    line = process.stdout.readline()
    assert "Listening" in line, line + process.stderr.read()
    http_port = int(line.split("http://127.0.0.1:")[1].split()[0])
    https_port = int(line.split("https://127.0.0.1:")[1].split()[0])
    return process, http_port, https_port


def test_sigterm_lets_in_flight_signatures_finish(dev_env: DevEnv, tmp_path: Path) -> None:
    config = daemon_config(dev_env, tmp_path)
    process, http_port, https_port = start(config, dev_env)
    try:
        health = call("GET", f"https://127.0.0.1:{https_port}/v1/health", cafile=str(tmp_path / "tls" / "ca.pem"))
        assert health.status == 200

        result = {}

        def sign() -> None:  # waits for the official's consent, so it is in flight when SIGTERM arrives
            result["reply"] = call("POST", f"http://127.0.0.1:{http_port}/v1/sign/pdf", headers={
                "Origin": PAGE, "Content-Type": "application/pdf"},
                body=(DOCUMENTS / "libreoffice.pdf").read_bytes())

        official = threading.Event()  # consents once SIGTERM has arrived
        asked = threading.Event()
        with answering_companion(tmp_path / "state", gate=official, opened=asked):
            in_flight = threading.Thread(target=sign)
            in_flight.start()
            assert asked.wait(30), "the consent dialog opens"
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert process.poll() is None, "the daemon waits for the request in flight"
            official.set()
            in_flight.join(30)
        assert result["reply"].status == 200
        assert result["reply"].body.startswith(b"%PDF")
        assert process.wait(30) == 0
        assert "Stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()

    audit = signer_cli("audit", "--json", "--since", "1h", "--config", str(config), env=dev_env.env())
    assert audit.returncode == 0, audit.stderr
    entries = json.loads(audit.stdout)
    assert [(e["origin"], e["operation"], e["result"]) for e in entries] == [
        (PAGE, "POST /v1/sign/pdf", "OK")]
    human = signer_cli("audit", "--config", str(config), env=dev_env.env())
    assert "POST /v1/sign/pdf" in human.stdout


def test_port_in_use_is_a_clear_error(dev_env: DevEnv, tmp_path: Path) -> None:
    config = daemon_config(dev_env, tmp_path)
    process, http_port, _ = start(config, dev_env)
    try:
        second = signer_cli("serve", "--config", str(config), "--port", str(http_port), "--tls-port", "0",
                            env=dev_env.env())
        assert second.returncode == 3
        assert second.stderr.startswith("signer: PORT_IN_USE: ")
        assert "Traceback" not in second.stderr
    finally:
        process.terminate()
        process.wait(30)


def test_origins_commands(dev_env: DevEnv, tmp_path: Path) -> None:
    config = daemon_config(dev_env, tmp_path)
    env = dev_env.env()
    assert signer_cli("origins", "grant", "https://QLVB.example.gov.vn", "--hash", "--allow", "--config", str(config),
                      env=env).returncode == 0
    listed = json.loads(signer_cli("origins", "list", "--json", "--config", str(config), env=env).stdout)
    assert listed["consents"]["https://qlvb.example.gov.vn:443"]["certificates"] == {"*": ["raw", "sign"]}
    assert signer_cli("origins", "revoke", "https://qlvb.example.gov.vn", "--config", str(config),
                      env=env).returncode == 0
    again = signer_cli("origins", "revoke", "https://qlvb.example.gov.vn", "--config", str(config), env=env)
    assert again.returncode == 9 and again.stderr.startswith("signer: NOT_FOUND: ")
    bad = signer_cli("origins", "grant", "not an origin", "--config", str(config), env=env)
    assert bad.returncode == 9 and "BAD_REQUEST" in bad.stderr


def test_interactive_daemon_asks_consent_on_its_terminal(dev_env: DevEnv, tmp_path: Path) -> None:
    """`signer serve --interactive` without a companion: the question is on the daemon's terminal."""
    config = daemon_config(dev_env, tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "signer", "serve", "--interactive", "--config", str(config), "--port", "0",
         "--tls-port", "0", "--allow-origin", PAGE],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dev_env.env())
    try:
        port = int(process.stdout.readline().split("http://127.0.0.1:")[1].split()[0])
        for answer, expected in (("1", 200), ("3", 403)):
            result: dict = {}

            def sign(result: dict = result) -> None:
                result["reply"] = call("POST", f"http://127.0.0.1:{port}/v1/sign/pdf",
                                       headers={"Origin": PAGE, "Content-Type": "application/pdf"},
                                       body=(DOCUMENTS / "libreoffice.pdf").read_bytes())

            request = threading.Thread(target=sign)
            request.start()
            shown = []
            while not any("SHA-256" in line for line in shown):
                shown.append(process.stderr.readline())
            assert f"Trang web / Website: {PAGE}" in "".join(shown)
            process.stdin.write(answer + "\n")
            process.stdin.flush()
            request.join(30)
            assert result["reply"].status == expected, result["reply"].body[:300]
        assert not ConsentStore(tmp_path / "state" / "consents.json").granted(PAGE, "sign"), "once: not remembered"
    finally:
        process.terminate()
        process.wait(30)
