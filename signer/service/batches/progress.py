"""A batch's progress: each item's outcome and the batch's final state, to every listener
(Server-Sent Events, a SignFiles call) and to the desktop companion's watchers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any

from .journal import FINAL, PENDING, Batch, Item


class Progress:
    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Queue]] = {}
        self.watchers: set[Callable[[dict], Coroutine[Any, Any, None]]] = set()

    async def events(self, batch: Batch) -> AsyncGenerator[dict, None]:
        """Each item's outcome once (those already settled first), then the final state."""
        queue: asyncio.Queue = asyncio.Queue()
        self._listeners.setdefault(batch.id, set()).add(queue)
        sent: set[int] = set()
        try:
            for item in batch.items:
                if item.state != PENDING:
                    sent.add(item.index)
                    yield item_event(batch, item)
            if batch.state in FINAL:
                yield batch_event(batch)
                return
            while True:
                event = await queue.get()
                if event["event"] == "item" and event["index"] in sent:
                    continue
                if event["event"] == "item":
                    sent.add(event["index"])
                yield event
                if event["event"] == "batch" and event["state"] in FINAL:
                    return
        finally:
            listeners = self._listeners.get(batch.id, set())
            listeners.discard(queue)
            if not listeners:
                self._listeners.pop(batch.id, None)

    def publish(self, batch: Batch, event: dict) -> None:
        for queue in self._listeners.get(batch.id, ()):
            queue.put_nowait(event)
        self.tell_watchers({**event, "origin": batch.origin})

    def tell_watchers(self, event: dict) -> None:
        for watcher in list(self.watchers):
            asyncio.get_running_loop().create_task(watcher({"type": "batch", **event}))


def item_event(batch: Batch, item: Item) -> dict:
    return {"event": "item", "batch": batch.id, "index": item.index, "name": item.name, "state": item.state,
            "error": item.error, "repaired": item.repaired_sha256 is not None}


def batch_event(batch: Batch) -> dict:
    summary = batch.summary()
    return {"event": "batch", "batch": batch.id, "state": batch.state, "total": summary["total"],
            "done": summary["done"], "failed": summary["failed"]}
