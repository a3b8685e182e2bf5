"""A batch on disk, in the daemon's state folder: ``batches/<id>/batch.json`` (rewritten
whole, then renamed), ``inputs/<n>.pdf`` as received and ``outputs/<n>.pdf`` as signed
(written to a temporary file, then renamed). A daemon killed at any moment finds every
batch readable; an output that exists is complete, and it is what says an item is signed.
A batch's folder lives only while it holds documents someone still needs (the manager
deletes them: ``drop_input``, ``drop_output``, ``discard``)."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ...files import write_atomically
from ..caller import WITH_API_TOKEN

PENDING, RUNNING, DONE, FAILED, CANCELLED, SIGNED = "pending", "running", "done", "failed", "cancelled", "signed"
FINAL = (DONE, FAILED, CANCELLED)


@dataclass
class Item:
    index: int
    name: str
    sha256: str
    size: int
    state: str = PENDING  # pending, signed, failed, cancelled
    error: str | None = None
    pages: int | None = None  # counted before consent is asked, or when prepared
    fetched: bool = False  # its signed document was fetched whole (deleted by the next sweep)
    repaired_sha256: str | None = None  # damaged: signed in its lossless rewrite, whose SHA-256 this is


@dataclass
class Batch:
    id: str
    origin: str | None  # the creating origin (None: not a browser)
    options: dict[str, str]  # profile, level, cert
    items: list[Item] = field(default_factory=list)
    state: str = PENDING
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    client: str = WITH_API_TOKEN  # who created it when ``origin`` is None (service.caller; older journals: api-token)
    transient: bool = False  # for one call (VGCA SignFiles): deleted when the call ends, never resumed
    expires: str | None = None  # set when it ends: then it is deleted with what is left of it

    def summary(self) -> dict:
        return {"id": self.id, "state": self.state, "total": len(self.items),
                "done": sum(i.state == SIGNED for i in self.items),
                "failed": sum(i.state == FAILED for i in self.items),
                "expires": self.expires,
                "items": [{"index": i.index, "name": i.name, "sha256": i.sha256, "pages": i.pages, "state": i.state,
                           "error": i.error, "fetched": i.fetched, "repaired": i.repaired_sha256 is not None}
                          for i in self.items]}


class Journal:
    def __init__(self, root: Path) -> None:
        self.root = root

    def new_id(self) -> str:
        return secrets.token_urlsafe(18)  # unguessable: the id is also what another origin must not learn

    def folder(self, batch_id: str) -> Path:
        return self.root / batch_id

    def input(self, batch_id: str, index: int) -> Path:
        return self.folder(batch_id) / "inputs" / f"{index}.pdf"

    def output(self, batch_id: str, index: int) -> Path:
        return self.folder(batch_id) / "outputs" / f"{index}.pdf"

    def received(self, batch_id: str, key: int) -> Path:
        """Where a download for the batch lands before it becomes an input (``add_received``)."""
        return self.folder(batch_id) / "inputs" / f"received-{key}.pdf"

    def prepare(self, batch_id: str) -> None:
        for name in ("inputs", "outputs"):
            (self.folder(batch_id) / name).mkdir(parents=True, exist_ok=True, mode=0o700)

    def save(self, batch: Batch) -> None:
        data = json.dumps(asdict(batch), ensure_ascii=False, indent=1).encode()
        write_atomically(self.folder(batch.id) / "batch.json", data, mode=0o600)

    def load_all(self) -> list[Batch]:
        batches = []
        for path in sorted(self.root.glob("*/batch.json")):
            try:
                raw = json.loads(path.read_text("utf-8"))
                raw["items"] = [Item(**item) for item in raw["items"]]
                batches.append(Batch(**raw))
            except (OSError, ValueError, TypeError, KeyError):
                continue  # an unreadable journal is left alone, not guessed at
        return batches

    def discard(self, batch_id: str) -> None:
        shutil.rmtree(self.folder(batch_id), ignore_errors=True)

    def drop_input(self, batch_id: str, index: int) -> None:
        with contextlib.suppress(OSError):  # gone already, or held open elsewhere: the sweep tries again
            self.input(batch_id, index).unlink()

    def drop_output(self, batch_id: str, index: int) -> None:
        with contextlib.suppress(OSError):
            self.output(batch_id, index).unlink()

    def on_disk(self) -> list[str]:
        """The ids of every batch folder, readable journal or not."""
        try:
            return sorted(p.name for p in self.root.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []

    def last_change(self, batch_id: str) -> float:
        """The newest modification time in the batch's folder (seconds since the epoch)."""
        folder = self.folder(batch_id)
        times = [folder.stat().st_mtime]
        for path in folder.rglob("*"):
            with contextlib.suppress(OSError):  # deleted meanwhile
                times.append(path.stat().st_mtime)
        return max(times)
