"""An exclusive lock shared by every process of this user: the daemon and the commands run
beside it write the same files (the audit trail); and the daemon's own lock on its state folder,
taken without waiting (one daemon per folder)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold the lock on ``path`` (created, mode 0600, and never removed or renamed, so every
    process locks the same file) until the block ends."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _lock(fd)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


@contextmanager
def exclusive_now(path: Path) -> Iterator[bool]:
    """Take the lock on ``path`` if no other process holds it, without waiting; yields whether it
    was taken (and holds it until the block ends). The file is never removed, as above."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        taken = _try_lock(fd)
        try:
            yield taken
        finally:
            if taken:
                _unlock(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        while True:  # LK_LOCK gives up after ten seconds; a writer holds it for one line
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:
                continue

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
