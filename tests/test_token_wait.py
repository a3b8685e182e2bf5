"""A signature that finds no token waits for it: the official is asked to plug it in, and the
signature goes on when SoftHSM's token folders come back (the daemon's PKCS#11 watcher starts
the module afresh and sees them). With nobody to ask it fails at once, as before."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
import time
from pathlib import Path

from companion_harness import answering_companion
from conftest import DOCUMENTS, DevEnv, pdfsig
from docsys import DocumentSystem
from http_client import call
from pdf_checks import assert_pdfsig_all_valid
from test_serve_cli import daemon_config, start
from test_vgca import docsys, document_frame, vgca_at  # noqa: F401  (docsys is a fixture)

from tray.bridge import DialogBridge

GUARD_S = 60


def pull_out(env: DevEnv, holder: Path) -> list[Path]:
    """Every token of ``env`` unplugged: its folders moved to ``holder``; returns where they were."""
    holder.mkdir()
    folders = sorted((env.dir / "tokens").iterdir())
    for folder in folders:
        folder.rename(holder / folder.name)
    return folders


def plug_back(folders: list[Path], holder: Path) -> None:
    for folder in folders:
        (holder / folder.name).rename(folder)


def with_wait(config: Path, wait_s: float) -> Path:
    config.write_text(config.read_text().replace("[tokens]\n", f"[tokens]\nwait_s = {wait_s}\n", 1))
    return config


def sign_request(port: int, folder: Path, result: dict) -> threading.Thread:
    """POST /v1/sign/pdf as a local client with the API token, on a thread (it waits for the token)."""
    def sign() -> None:
        token = (folder / "api-token").read_text().strip()
        result["reply"] = call("POST", f"http://127.0.0.1:{port}/v1/sign/pdf", timeout=GUARD_S, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
            body=(DOCUMENTS / "libreoffice.pdf").read_bytes())

    thread = threading.Thread(target=sign, daemon=True)
    thread.start()
    return thread


def audit_lines(folder: Path) -> list[dict]:
    path = folder / "state" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_signature_waits_for_the_token_plugged_in_then_signs(private_tokens: DevEnv, tmp_path: Path) -> None:
    config = daemon_config(private_tokens, tmp_path)
    folders = pull_out(private_tokens, tmp_path / "drawer")
    process, port, _ = start(config, private_tokens)
    asked: list[DialogBridge] = []
    plug_in_shown = threading.Event()

    def shown(bridge: DialogBridge) -> None:
        asked.append(bridge)
        plug_in_shown.set()

    try:
        with answering_companion(tmp_path / "state", plug_in=shown):
            result: dict = {}
            signing = sign_request(port, tmp_path, result)
            assert plug_in_shown.wait(GUARD_S), "the companion was asked to have the token plugged in"
            assert asked[0].state()["data"]["operation"] == "sign"
            assert "reply" not in result, "the request waits for the token"
            plug_back(folders, tmp_path / "drawer")
            signing.join(GUARD_S)
            reply = result["reply"]
            assert reply.status == 200, reply.body
            deadline = time.monotonic() + GUARD_S
            while not asked[0].state()["closed"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert asked[0].state()["closed"] == "done", "the dialog closed when the token came"
            while not [e for e in audit_lines(tmp_path) if e["operation"] == "token.arrived"]:
                assert time.monotonic() < deadline, "the token's arrival was audited"
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(30)
    out = tmp_path / "signed.pdf"
    out.write_bytes(reply.body)
    assert pdfsig(out).count("Signature is Valid.") == 1
    lines = audit_lines(tmp_path)
    arrived = [e for e in lines if e["operation"] == "token.arrived"]
    assert {e["device"]["label"] for e in arrived} >= {"Token Le Hong Son"}, lines
    assert all(e["origin"] == "device" and e["device"]["source"] == "pkcs11" for e in arrived)
    signed = [e for e in lines if e["operation"] == "POST /v1/sign/pdf"]
    assert [e["result"] for e in signed] == ["OK"]


def test_a_token_without_the_certificate_asked_for_does_not_end_the_wait(private_tokens: DevEnv,
                                                                       tmp_path: Path) -> None:
    """The clerk's token is plugged in first: the request for the leader's certificate goes on
    waiting, and signs when the leader's token comes."""
    config = daemon_config(private_tokens, tmp_path)
    folders = pull_out(private_tokens, tmp_path / "drawer")
    leader = next(f for f in folders if b"Token Le Hong Son" in (tmp_path / "drawer" / f.name / "token.object")
                  .read_bytes())
    process, port, _ = start(config, private_tokens)
    plug_in_shown = threading.Event()
    try:
        with answering_companion(tmp_path / "state", plug_in=lambda bridge: plug_in_shown.set()):
            result: dict = {}
            signing = sign_request(port, tmp_path, result)
            assert plug_in_shown.wait(GUARD_S)
            plug_back([f for f in folders if f != leader], tmp_path / "drawer")
            deadline = time.monotonic() + GUARD_S
            while not [e for e in audit_lines(tmp_path) if e["operation"] == "token.arrived"]:
                assert time.monotonic() < deadline, "the clerk's token was seen"
                time.sleep(0.1)
            assert "reply" not in result, "still waiting for the leader's token"
            plug_back([leader], tmp_path / "drawer")
            signing.join(GUARD_S)
    finally:
        process.terminate()
        process.wait(30)
    reply = result["reply"]
    assert reply.status == 200, reply.body
    out = tmp_path / "signed.pdf"
    out.write_bytes(reply.body)
    assert pdfsig(out).count("Signature is Valid.") == 1


def test_a_vgca_page_s_signature_waits_for_the_token(private_tokens: DevEnv, docsys: DocumentSystem,  # noqa: F811
                                                    tmp_path: Path) -> None:
    """The VGCA path: the page's SignApproved call waits while the official plugs the token in
    (consent and confirmation answered in the companion), then the signed file is uploaded."""
    config = daemon_config(private_tokens, tmp_path)
    folders = pull_out(private_tokens, tmp_path / "drawer")
    process, _, https_port = start(config, private_tokens, origin=docsys.url)
    plug_in_shown = threading.Event()
    try:
        with answering_companion(tmp_path / "state", plug_in=lambda bridge: plug_in_shown.set()):
            before = len(docsys.uploads)
            result: dict = {}
            calling = threading.Thread(target=lambda: result.update(reply=vgca_at(
                https_port, tmp_path / "tls" / "ca.pem", "SignApproved", document_frame(docsys), origin=docsys.url)))
            calling.start()
            assert plug_in_shown.wait(GUARD_S), "the official was asked to plug the token in"
            plug_back(folders, tmp_path / "drawer")
            calling.join(GUARD_S)
    finally:
        process.terminate()
        process.wait(30)
    assert result["reply"]["Status"] == 0, result
    out = tmp_path / "uploaded.pdf"
    out.write_bytes(docsys.uploads[before].data)
    assert_pdfsig_all_valid(out, 1)


def test_with_nobody_to_ask_a_missing_token_fails_at_once(private_tokens: DevEnv, tmp_path: Path) -> None:
    config = daemon_config(private_tokens, tmp_path)  # waits up to [tokens] wait_s = 120 s if someone is asked
    pull_out(private_tokens, tmp_path / "drawer")
    process, port, _ = start(config, private_tokens)
    try:
        result: dict = {}
        sign_request(port, tmp_path, result).join(GUARD_S)  # far less than the 120 s a wait would take
        reply = result["reply"]
    finally:
        process.terminate()
        process.wait(30)
    assert reply.status == 409 and reply.json()["code"] == "TOKEN_NOT_PRESENT", reply.body


def test_the_wait_ends_with_token_not_present_and_the_dialog_closes(private_tokens: DevEnv, tmp_path: Path) -> None:
    config = with_wait(daemon_config(private_tokens, tmp_path), 1)
    pull_out(private_tokens, tmp_path / "drawer")
    process, port, _ = start(config, private_tokens)
    asked: list[DialogBridge] = []
    try:
        with answering_companion(tmp_path / "state", plug_in=asked.append):
            result: dict = {}
            sign_request(port, tmp_path, result).join(GUARD_S)
            reply = result["reply"]
            deadline = time.monotonic() + GUARD_S
            while not (asked and asked[0].state()["closed"]) and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(30)
    assert reply.status == 409, reply.body
    assert reply.json()["code"] == "TOKEN_NOT_PRESENT" and "within 1 s" in reply.json()["message"], reply.body
    assert len(asked) == 1 and asked[0].state()["closed"] == "done"


def test_the_command_waits_on_its_terminal_for_the_token(private_tokens: DevEnv, tmp_path: Path) -> None:
    """``signer sign`` run at a terminal (a pseudo-terminal here) says to plug the token in and
    signs when it comes."""
    folders = pull_out(private_tokens, tmp_path / "drawer")
    out = tmp_path / "signed.pdf"
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "signer", "sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out),
         "--config", str(private_tokens.signer_config)],
        stdin=child, stdout=child, stderr=child, env=private_tokens.env(), close_fds=True)
    os.close(child)
    seen = b""
    try:
        deadline = time.monotonic() + GUARD_S
        while b"Plug in the USB token" not in seen:
            assert time.monotonic() < deadline and process.poll() is None, seen.decode(errors="replace")
            seen += os.read(main, 4096)
        assert "Hãy cắm USB token".encode() in seen
        plug_back(folders, tmp_path / "drawer")
        assert process.wait(GUARD_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
        try:
            while chunk := os.read(main, 4096):
                seen += chunk
        except OSError:
            pass  # the terminal closed with the command
        os.close(main)
    assert pdfsig(out).count("Signature is Valid.") == 1, seen.decode(errors="replace")


def test_a_command_with_no_terminal_fails_at_once(private_tokens: DevEnv, tmp_path: Path) -> None:
    pull_out(private_tokens, tmp_path / "drawer")
    done = subprocess.run(
        [sys.executable, "-m", "signer", "sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(tmp_path / "x.pdf"),
         "--config", str(private_tokens.signer_config)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=private_tokens.env(), timeout=GUARD_S)
    assert done.returncode != 0 and "TOKEN_NOT_PRESENT" in done.stderr, done.stderr
    assert "Plug in the USB token" not in done.stderr
    assert not (tmp_path / "x.pdf").exists()
