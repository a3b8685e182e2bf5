"""Writing results safely: a temporary file in the target folder, then an atomic rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import Code, SignerError


def read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SignerError(Code.FILE_UNREADABLE, f"{path}: {exc.strerror or exc}") from None


def write_atomically(path: Path, data: bytes, *, mode: int = 0o644, error_code: Code = Code.OUTPUT_FAILED) -> None:
    """Either the whole file appears at ``path`` or nothing changes there.

    The temporary file is created with mode 0600 (mkstemp), so a private file is
    never readable by others, not even before the rename.
    """
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise SignerError(error_code, f"{path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise SignerError(error_code, f"{path}: {exc.strerror or exc}") from None
        raise
