"""Token watchers against real parts: pcscd with a virtual reader and card (vsmartcard),
SoftHSM with a token folder added and removed. The watchers run as
``python -m drivers.watchers`` in their own process, printing events as JSON lines."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

VICC_ATR = "3B:95:13:81:01:80:73:FF:01:00:0B"  # Debian's vicc -t iso7816
VICC_PATH = "/usr/lib/python3/site-packages/virtualsmartcard"
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
GUARD_S = 30.0  # only so that a broken watcher fails the test instead of hanging it


class Lines:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.selector = selectors.DefaultSelector()
        assert proc.stdout is not None
        self.selector.register(proc.stdout, selectors.EVENT_READ)

    def next(self) -> dict:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + GUARD_S
        while time.monotonic() < deadline:
            if self.selector.select(timeout=0.5):
                line = self.proc.stdout.readline()
                assert line, f"watchers ended: {self.proc.stderr.read() if self.proc.stderr else ''}"
                return json.loads(line)
        raise AssertionError("no event from the watchers")


def _watchers(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "drivers.watchers", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _end(proc: subprocess.Popen) -> None:
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
    _end(proc)


def _vicc(port: int) -> subprocess.Popen[str]:
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


def test_card_inserted_and_removed_gives_arrived_and_left_with_the_atr(pcscd: int) -> None:
    watchers = _watchers("--pcsc", "--interval", "0.5")
    lines = Lines(watchers)
    try:
        assert lines.next() == {"ready": ["pcsc"]}
        card = _vicc(pcscd)
        arrived = lines.next()
        assert (arrived["kind"], arrived["source"], arrived["atr"]) == ("arrived", "pcsc", VICC_ATR)
        assert arrived["reader"].startswith("Virtual PCD")
        card.terminate()
        card.wait(timeout=GUARD_S)
        left = lines.next()
        assert (left["kind"], left["source"], left["atr"]) == ("left", "pcsc", VICC_ATR)
        assert left["reader"] == arrived["reader"]
        card = _vicc(pcscd)  # and back in: a second arrival
        again = lines.next()
        assert (again["kind"], again["atr"], again["reader"]) == ("arrived", VICC_ATR, arrived["reader"])
        card.terminate()
        card.wait(timeout=GUARD_S)
    finally:
        _end(watchers)


def test_softhsm_token_folder_added_and_removed(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    watchers = _watchers("--pkcs11", SOFTHSM, "--interval", "0.2", env=env)
    lines = Lines(watchers)
    try:
        assert lines.next() == {"ready": ["pkcs11"]}
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", "hotplug", "--so-pin", "12345678", "--pin", "1234"],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        arrived = lines.next()
        assert (arrived["kind"], arrived["source"], arrived["label"]) == ("arrived", "pkcs11", "hotplug")
        for folder in tokens.iterdir():
            shutil.rmtree(folder)
        left = lines.next()
        assert (left["kind"], left["source"], left["slot"]) == ("left", "pkcs11", arrived["slot"])
    finally:
        _end(watchers)
