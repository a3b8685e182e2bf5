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
from pathlib import Path

from pcsc_harness import GUARD_S, VICC_ATR, end, pcscd, vicc

from tests.conftest import REPO

__all__ = ["pcscd"]  # a fixture, used by name

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"


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


def test_card_inserted_and_removed_gives_arrived_and_left_with_the_atr(pcscd: int) -> None:
    watchers = _watchers("--pcsc", "--interval", "0.5")
    lines = Lines(watchers)
    try:
        assert lines.next() == {"ready": ["pcsc"]}
        card = vicc(pcscd)
        arrived = lines.next()
        assert (arrived["kind"], arrived["source"], arrived["atr"]) == ("arrived", "pcsc", VICC_ATR)
        assert arrived["reader"].startswith("Virtual PCD")
        card.terminate()
        card.wait(timeout=GUARD_S)
        left = lines.next()
        assert (left["kind"], left["source"], left["atr"]) == ("left", "pcsc", VICC_ATR)
        assert left["reader"] == arrived["reader"]
        card = vicc(pcscd)  # and back in: a second arrival
        again = lines.next()
        assert (again["kind"], again["atr"], again["reader"]) == ("arrived", VICC_ATR, arrived["reader"])
        card.terminate()
        card.wait(timeout=GUARD_S)
    finally:
        end(watchers)


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
        end(watchers)
