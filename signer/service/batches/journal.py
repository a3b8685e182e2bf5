"""A batch on disk, in the daemon's state folder: ``batches/<id>/batch.json`` (rewritten
whole, then renamed), ``inputs/<n>.pdf`` as received and ``outputs/<n>.pdf`` as signed
(written to a temporary file, then renamed). A daemon killed at any moment finds every
batch readable; an output that exists is complete, and it is what says an item is signed."""

from __future__ import annotations

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


@dataclass
class Batch:
    id: str
    origin: str | None  # the creating origin (None: not a browser)
    options: dict[str, str]  # profile, level, cert
    items: list[Item] = field(default_factory=list)
    state: str = PENDING
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    client: str = WITH_API_TOKEN  # who created it when ``origin`` is None (service.caller; older journals: api-token)

    def summary(self) -> dict:
        return {"id": self.id, "state": self.state, "total": len(self.items),
                "done": sum(i.state == SIGNED for i in self.items),
                "failed": sum(i.state == FAILED for i in self.items),
                "items": [{"index": i.index, "name": i.name, "sha256": i.sha256, "pages": i.pages, "state": i.state,
                           "error": i.error} for i in self.items]}


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
