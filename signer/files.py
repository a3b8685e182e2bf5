"""Writing results and received documents safely: a temporary file in the target folder,
then an atomic rename; received documents within their caller's quota."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from .errors import Code, SignerError, os_reason_vi


def read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SignerError(Code.FILE_UNREADABLE, f"{path}: {exc.strerror or exc}",
                          vi=f"{path}: {os_reason_vi(exc)}") from None


def write_atomically(path: Path, data: bytes, *, mode: int = 0o644, error_code: Code = Code.OUTPUT_FAILED) -> None:
    """Either the whole file appears at ``path`` or nothing changes there.

    The temporary file is created with mode 0600 (mkstemp), so a private file is
    never readable by others, not even before the rename.
    """
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise SignerError(error_code, f"{path}: {exc.strerror or exc}", vi=f"{path}: {os_reason_vi(exc)}") from None
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
            raise SignerError(error_code, f"{path}: {exc.strerror or exc}", vi=f"{path}: {os_reason_vi(exc)}") from None
        raise


@dataclass
class Quota:
    """Bytes some documents may take on disk together: one caller's documents that are being
    received or wait for consent, whatever batch (or VGCA call) they came in."""

    limit: int
    used: int = 0


@dataclass
class Share:
    """One batch's part of its caller's ``Quota``: taken as bytes arrive, given back whole
    (``release``) when the batch no longer waits for consent."""

    quota: Quota
    used: int = 0
    exceeded: bool = False  # a document was refused for the quota's sake (not its own size)

    def room(self) -> int:
        return self.quota.limit - self.quota.used

    def take(self, size: int) -> None:
        if size > self.room():
            self.refuse()
        self.used += size
        self.quota.used += size

    def give_back(self, size: int) -> None:
        self.used -= size
        self.quota.used -= size

    def release(self) -> None:
        self.give_back(self.used)

    def refuse(self) -> NoReturn:
        self.exceeded = True
        raise SignerError(Code.TOO_LARGE, "the documents awaiting consent",
                          limit_mb=round(self.quota.limit / 1048576, 1))


async def stream_to_disk(path: Path, chunks: AsyncIterable[bytes], share: Share, *,
                         error_code: Code = Code.OUTPUT_FAILED) -> tuple[int, str]:
    """``chunks`` written to ``path`` (a private temporary file beside it, renamed when whole),
    each taken from ``share`` as it arrives; the size and SHA-256. Nothing stays on disk, and
    the bytes go back to the share, when the chunks fail or are refused."""
    digest, size = hashlib.sha256(), 0
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise SignerError(error_code, f"{path.name}: {exc.strerror or exc}",
                          vi=f"{path.name}: {os_reason_vi(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                share.take(len(chunk))
                size += len(chunk)
                digest.update(chunk)
                out.write(chunk)
        os.replace(temporary, path)
    except BaseException as exc:
        share.give_back(size)
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise SignerError(error_code, f"{path.name}: {exc.strerror or exc}",
                              vi=f"{path.name}: {os_reason_vi(exc)}") from None
        raise
    return size, digest.hexdigest()
