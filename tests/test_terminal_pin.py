"""The terminal PIN source through a real pseudo-terminal: prompt, no echo, login, signature."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

from conftest import DOCUMENTS, LEADER_PIN, DevEnv, assert_no_traceback
from pdf_checks import assert_pdfsig_all_valid
from pty_terminal import read_until


def use_terminal_source(env: DevEnv) -> None:
    config = env.signer_config
    config.write_text(config.read_text().replace('source = "development"', 'source = "terminal"'))


def test_pin_typed_at_the_terminal_prompt(private_tokens: DevEnv, tmp_path: Path) -> None:
    use_terminal_source(private_tokens)
    out = tmp_path / "signed.pdf"
    argv = [sys.executable, "-m", "signer", "sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out)]
    env = private_tokens.env()
    pid, fd = pty.fork()
    if pid == 0:  # child: the pty is its controlling terminal
        os.execve(sys.executable, argv, env)
    deadline = time.monotonic() + 60
    prompt = read_until(fd, b": ", deadline)
    assert b"PIN" in prompt and b"Token Le Hong Son" in prompt, prompt
    os.write(fd, LEADER_PIN.encode() + b"\n")
    rest = read_until(fd, b"\x00never", deadline)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    transcript = (prompt + rest).decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, transcript
    assert LEADER_PIN not in transcript, "the PIN must not be echoed"
    assert "Signed" in transcript
    assert_pdfsig_all_valid(out, 1)


def test_no_terminal_means_no_pin(private_tokens: DevEnv, tmp_path: Path) -> None:
    use_terminal_source(private_tokens)
    out = tmp_path / "signed.pdf"
    done = subprocess.run(
        [sys.executable, "-m", "signer", "sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out)],
        capture_output=True, text=True, env=private_tokens.env(), stdin=subprocess.DEVNULL,
        start_new_session=True, timeout=60,
    )
    assert done.returncode == 6
    assert done.stderr.startswith("signer: PIN_UNAVAILABLE: ")
    assert_no_traceback(done)
    assert not out.exists()
