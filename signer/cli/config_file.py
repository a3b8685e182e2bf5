"""One value added to an array of the user's TOML configuration, every other byte kept as it
was (comments, order, layout): the file is edited as text, then parsed again to prove the
edit did exactly that and nothing else."""

from __future__ import annotations

import copy
import json
import re
import stat
import tomllib
from pathlib import Path

from ..errors import Code, SignerError
from ..files import write_atomically

_TABLE = re.compile(r"^[ \t]*\[[ \t]*([A-Za-z0-9_-]+)[ \t]*\][ \t]*(#[^\r\n]*)?\r?$", re.M)
_ANY_TABLE = re.compile(r"^[ \t]*\[", re.M)


def add_to_array(path: Path, table: str, key: str, value: str) -> None:
    """Append ``value`` to ``[table] key`` in the file at ``path`` (created, with the table and
    key, when missing), atomically and keeping the file's mode (0600 for a new file)."""
    path = path.resolve()  # a linked configuration stays linked: its target is rewritten
    try:
        text = path.read_text("utf-8") if path.exists() else ""
        edited = with_value_added(text, table, key, value)
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o600
        path.parent.mkdir(parents=True, exist_ok=True)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SignerError(Code.CONFIG_INVALID, f"{path}: {exc}; add {value} to [{table}] {key} by hand") from None
    write_atomically(path, edited.encode("utf-8"), mode=mode)


def with_value_added(text: str, table: str, key: str, value: str) -> str:
    """``text`` with ``value`` appended to ``[table] key``; ValueError when the file says it in
    a form this cannot edit (then nothing is written)."""
    expected = copy.deepcopy(tomllib.loads(text))
    current = expected.setdefault(table, {})
    if not isinstance(current, dict) or not isinstance(current.setdefault(key, []), list):
        raise ValueError(f"[{table}] {key} is not an array")
    current[key].append(value)
    edited = _edited(text, table, key, json.dumps(value))  # a JSON string is a TOML basic string
    if tomllib.loads(edited) != expected:
        raise ValueError(f"[{table}] {key} is written in a form that cannot be edited safely")
    return edited


def _edited(text: str, table: str, key: str, item: str) -> str:
    header = next((m for m in _TABLE.finditer(text) if m.group(1) == table), None)
    if header is None:  # no [table] header: a new table at the end
        gap = "" if not text else "\n\n" if not text.endswith("\n") else "\n"
        return f"{text}{gap}[{table}]\n{key} = [{item}]\n"
    following = _ANY_TABLE.search(text, header.end())
    end = following.start() if following else len(text)
    assignment = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=[ \t]*", re.M).search(text, header.end(), end)
    if assignment is None:  # a new key first in the table
        return f"{text[:header.end()]}\n{key} = [{item}]{text[header.end():]}"
    opening = assignment.end()
    if text[opening:opening + 1] != "[":
        raise ValueError(f"[{table}] {key} is not an array")
    last = _array_last(text, opening)
    if last == opening:  # empty
        return f"{text[:opening + 1]}{item}{text[opening + 1:]}"
    joint = " " if text[last] == "," else ", "
    return f"{text[:last + 1]}{joint}{item}{text[last + 1:]}"


def _array_last(text: str, opening: int) -> int:
    """The index of the last character in the array opened at ``opening`` that is neither space
    nor comment (``opening`` itself when the array is empty)."""
    depth, last, i = 0, opening, opening
    while i < len(text):
        char = text[i]
        if char == "#":
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        if char in "\"'":
            i = _string_end(text, i)
            last = i - 1
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return last
        if not char.isspace() and i != opening:
            last = i
        i += 1
    raise ValueError("an array is not closed")


def _string_end(text: str, start: int) -> int:
    """The index just after the TOML string starting at ``start`` (basic or literal, one line or three)."""
    quote = text[start]
    if text.startswith(quote * 3, start):
        end = text.find(quote * 3, start + 3)
        if end < 0:
            raise ValueError("a string is not closed")
        return end + 3
    i = start + 1
    while i < len(text) and text[i] not in (quote, "\n"):
        i += 2 if quote == '"' and text[i] == "\\" else 1
    if i >= len(text) or text[i] != quote:
        raise ValueError("a string is not closed")
    return i + 1
