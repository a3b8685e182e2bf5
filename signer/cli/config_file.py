"""One value added to an array of the user's TOML configuration, every other byte kept as it
was (comments, order, layout), through tomlkit's round-trip document."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Array, Table

from ..errors import Code, SignerError
from ..files import write_atomically


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
        raise SignerError(Code.CONFIG_INVALID, f"{path}: {exc}; add {value} to [{table}] {key} by hand",
                          vi=f"{path}: {exc}; hãy tự thêm {value} vào [{table}] {key}") from None
    write_atomically(path, edited.encode("utf-8"), mode=mode)


def with_value_added(text: str, table: str, key: str, value: str) -> str:
    """``text`` with ``value`` appended to ``[table] key``; ValueError when the file is not TOML
    or that key is not an array (then nothing is written)."""
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    section = document.get(table)
    if section is None:
        section = tomlkit.table()
        document[table] = section
    if not isinstance(section, Table | dict):
        raise ValueError(f"[{table}] is not a table")
    values = section.get(key)
    if values is None:
        section[key] = tomlkit.array()
        values = section[key]
    if not isinstance(values, Array):
        raise ValueError(f"[{table}] {key} is not an array")
    values.append(value)
    edited = tomlkit.dumps(document)
    tomllib.loads(edited)  # what the signer will read back
    return edited
