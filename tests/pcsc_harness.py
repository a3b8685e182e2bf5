"""A smart card inserted and removed over PC/SC, for real: pcscd with a virtual reader pair
(vsmartcard's vpcd) on a free port, and Debian's ``vicc -t iso7816`` as the card."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

VICC_ATR = "3B:95:13:81:01:80:73:FF:01:00:0B"  # Debian's vicc -t iso7816
VICC_PATH = "/usr/lib/python3/site-packages/virtualsmartcard"
GUARD_S = 30.0  # only so that a broken watcher fails the test instead of hanging it


def end(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=GUARD_S)


@pytest.fixture
def pcscd(tmp_path: Path) -> Iterator[int]:
    """pcscd with one virtual reader pair on a free port; yields the port vicc connects to."""
    port = free_port()
    conf = tmp_path / "reader.conf.d"
    conf.mkdir()
    (conf / "vpcd").write_text(
        'FRIENDLYNAME "Virtual PCD"\n'
        f"DEVICENAME   /dev/null:0x{port:04X}\n"
        "LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\n"
        f"CHANNELID    0x{port:04X}\n"
    )
    log = tmp_path / "pcscd.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["pcscd", "--foreground", "--info", "-c", str(conf)], stdout=out, stderr=out)
    deadline = time.monotonic() + GUARD_S
    while "daemon ready" not in log.read_text():
        assert proc.poll() is None, f"pcscd did not start (is another pcscd running?): {log.read_text()}"
        assert time.monotonic() < deadline, "pcscd did not get ready"
        time.sleep(0.1)
    yield port
    end(proc)


def vicc(port: int) -> subprocess.Popen[str]:
    """A card inserted: vicc connects to the reader's port once, and ends at once when that port is
    not listening yet (pcscd may say it is ready before its driver listens), so it is started again."""
    deadline = time.monotonic() + GUARD_S
    while True:
        card = subprocess.Popen(
            [sys.executable, "/usr/bin/vicc", "-t", "iso7816", "-P", str(port)],
            env={**os.environ, "PYTHONPATH": VICC_PATH},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            card.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return card  # still connected: the card is in the reader
        assert time.monotonic() < deadline, "vicc could not reach the virtual reader"
        time.sleep(0.2)
