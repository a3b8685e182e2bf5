"""One daemon per state folder. A second ``signer serve`` on the folder of a running one would
rewrite the companion's secret and socket (cutting the running daemon off from its tray) and
resume its batches; it stops before touching any of them. The lock is the kernel's: it goes
with its process, however that process ends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import Code, SignerError, os_reason_vi
from .locks import exclusive_now

LOCK = "serve.lock"  # holds the running daemon's pid, for the line the second one prints


@contextmanager
def sole_daemon(state_dir: Path) -> Iterator[None]:
    """Hold the state folder for this daemon until the block ends; ``ALREADY_RUNNING`` if another holds it."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise SignerError(Code.CONFIG_INVALID, f"{state_dir}: {exc.strerror or exc}",
                          vi=f"{state_dir}: {os_reason_vi(exc)}") from None
    path = state_dir / LOCK
    with exclusive_now(path) as taken:
        if not taken:
            raise SignerError(Code.ALREADY_RUNNING, f"{_holder(path)}, {state_dir}", vi=f"{_holder(path)}, {state_dir}")
        try:
            path.write_text(str(os.getpid()), encoding="ascii")
        except OSError:
            pass  # Windows: the locked byte cannot be written through another handle; the pid is a courtesy
        yield


def _holder(path: Path) -> str:
    try:
        pid = path.read_text(encoding="ascii").strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "pid ?"
