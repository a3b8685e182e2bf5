"""The audit trail's hash chain: each line's ``prev`` is the SHA-256 (hex) of the line before
it, as stored (its bytes without the newline), across rotated files; the first line ever has
``GENESIS``. A line removed or edited anywhere before the newest one breaks the chain.

Lines written before the chain existed (no ``prev``) are accepted at the start of the log
only: the chain begins at the first line with ``prev``, which links to the last of them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

GENESIS = "0" * 64

# why a line breaks the chain
DAMAGED = "damaged"  # not a JSON object
MISMATCH = "mismatch"  # its prev is not the hash of the line before it
UNCHAINED = "unchained"  # no prev, after the chain began


def line_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def lines_of(data: bytes) -> list[bytes]:
    """A file's lines without their newlines; a last line without one (cut short) counts too."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def last_line(path: Path) -> tuple[bytes, bool] | None:
    """The file's last line and whether its newline is there, read from the end; None for an
    empty or missing file."""
    try:
        with path.open("rb") as file:
            end = file.seek(0, os.SEEK_END)
            if end == 0:
                return None
            file.seek(end - 1)
            complete = file.read(1) == b"\n"
            position, chunks = end - 1 if complete else end, []
            while position > 0:
                step = min(4096, position)
                position -= step
                file.seek(position)
                chunk = file.read(step)
                cut = chunk.rfind(b"\n")
                if cut >= 0:
                    chunks.append(chunk[cut + 1:])
                    break
                chunks.append(chunk)
            return b"".join(reversed(chunks)), complete
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Break:
    file: str
    line: int  # 1-based, within ``file``
    reason: str  # DAMAGED, MISMATCH or UNCHAINED


@dataclass(frozen=True)
class ChainReport:
    lines: int  # lines read, up to the break if any
    unchained: int  # lines from before the chain, at its start
    broken: Break | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def check(files: Iterable[Path], start: str = GENESIS) -> ChainReport:
    """Follow the chain through ``files`` (oldest first); ``start`` is what the first line's
    prev must be (GENESIS, or the hash of the last line retention dropped)."""
    expected, chained, unchained, count = start, False, 0, 0
    for name, number, raw in _numbered(files):
        count += 1
        try:
            fields = json.loads(raw)
        except ValueError:  # also bytes that are not UTF-8
            fields = None
        if not isinstance(fields, dict):
            return ChainReport(count, unchained, Break(name, number, DAMAGED))
        prev = fields.get("prev")
        if prev is None:
            if chained:
                return ChainReport(count, unchained, Break(name, number, UNCHAINED))
            unchained += 1
        elif prev != expected:
            return ChainReport(count, unchained, Break(name, number, MISMATCH))
        else:
            chained = True
        expected = line_hash(raw)
    return ChainReport(count, unchained, None)


def _numbered(files: Iterable[Path]) -> Iterator[tuple[str, int, bytes]]:
    for path in files:
        for number, raw in enumerate(lines_of(path.read_bytes()), 1):
            yield path.name, number, raw
