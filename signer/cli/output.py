"""Shared output helpers for subcommands.

What a terminal would act on rather than show (control characters C0 and C1, DEL, and the
invisible format and line-separator characters such as bidirectional overrides) is written
escaped, in text and in JSON alike: a value cannot move the cursor, erase or reorder a line.
"""

from __future__ import annotations

import json
import math
import re
import sys
import unicodedata
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..waits import Wait

HIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs"))  # control, format, separators, lone surrogates


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in HIDDEN


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(value: object) -> str:
    """``value`` as text one can trust on a terminal: hidden characters and the backslash
    escaped (so an escape sequence typed as text stays distinguishable from a real one)."""
    return "".join("\\\\" if c == "\\" else _escape(c) if _hidden(c) else c for c in str(value))


NOT_PLAIN = re.compile(r"[^\n\x20-\x7e]")  # where a hidden character may be (json.dumps writes C0 escaped)


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if not _hidden(char):
        return char
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a surrogate pair, as JSON writes characters beyond the BMP
    return f"\\u{0xd800 + (code >> 10):04x}\\u{0xdc00 + (code & 0x3ff):04x}"


def print_json(value: Any) -> None:
    # json escapes C0 itself; the rest of what a terminal acts on is escaped here (still JSON)
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(NOT_PLAIN.sub(_json_escape, text) + "\n")


def announce_waits(*, below_bar: bool = False) -> AbstractContextManager[None]:
    """The command's slow network waits, each said once on stderr (a progress line, not a result);
    ``below_bar``: on a line of its own below a progress bar drawn with carriage returns."""
    from ..waits import announce

    said: set[tuple[str, str]] = set()

    def say(wait: Wait) -> None:
        if (wait.kind, wait.url) not in said:
            said.add((wait.kind, wait.url))
            print(("\n" if below_bar else "") + waiting_line(wait), file=sys.stderr, flush=True)

    return announce(say)


def waiting_line(wait: Wait) -> str:
    from ..waits import TIMESTAMP

    url, limit = printable(wait.url), math.ceil(wait.limit_s)
    if wait.kind == TIMESTAMP:
        return f"Đang chờ dấu thời gian từ {url} (tối đa {limit} giây) / Waiting for the timestamp from {url} " \
               f"(up to {limit} s)"
    return f"Đang kiểm tra tình trạng thu hồi chứng thư số tại {url} (tối đa {limit} giây) / " \
           f"Checking the certificate's revocation at {url} (up to {limit} s)"
