"""The remote services' token file: owner-only, and two processes renewing tokens at once
(the daemon and a command) keep each other's entries."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from drivers.csc_tokens import Tokens, TokenStore

WRITER = """
import sys
from drivers.csc_tokens import Tokens, TokenStore
store = TokenStore(__import__("pathlib").Path(sys.argv[1]))
for n in range(int(sys.argv[3])):
    store.save(f"{sys.argv[2]}-{n}", Tokens(access_token="a", expires_at=2e9, url="https://x"))
"""


def test_two_processes_saving_at_once_lose_no_entry(tmp_path: Path) -> None:
    path = tmp_path / "state" / "remote-tokens.json"
    root = Path(__file__).resolve().parents[1]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, "60"], cwd=root)
               for name in ("daemon", "command")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    entries = json.loads(path.read_text())
    assert sorted(entries) == sorted(f"{name}-{n}" for name in ("daemon", "command") for n in range(60))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".part")]  # no temporary file left


def test_an_entry_is_for_its_url_and_can_be_forgotten(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "remote-tokens.json")
    store.save("hanoi", Tokens(access_token="secret-access", expires_at=2e9, refresh_token="r", url="https://a"))
    assert store.load("hanoi", "https://b") is None  # moved to another URL: not sent there
    loaded = store.load("hanoi", "https://a")
    assert loaded is not None and loaded.refresh_token == "r" and "secret-access" not in repr(loaded)
    assert store.forget("hanoi") and not store.forget("hanoi")
    assert store.load("hanoi", "https://a") is None
