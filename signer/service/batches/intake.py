"""Documents arriving for a batch, before it starts: streamed to disk (whole or not at all)
under the batch's count limit and its caller's quota.

The quota is per caller (a page's origin, or a client without one), shared by all its
batches that are receiving or waiting for consent: K batches (or VGCA calls) at once
together stay within ``batch_max_mb``; a batch's bytes are given back when it is consented
to or gone (``release``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from policies.limits import Limits

from ...errors import Code, SignerError
from ...files import Quota, Share, stream_to_disk
from .journal import Batch, Item, Journal


class Intake:
    def __init__(self, journal: Journal, limits: Limits) -> None:
        self.journal = journal
        self.limits = limits
        self._quotas: dict[str, Quota] = {}  # per caller (the allowed origins, a few clients)
        self._shares: dict[str, Share] = {}  # per batch not consented yet: its part of its caller's quota

    def open(self, batch: Batch, owner: str) -> None:
        """A new batch of ``owner`` (its origin, else its client) receives documents."""
        quota = self._quotas.setdefault(owner, Quota(self.limits.batch_max_bytes))
        self._shares[batch.id] = Share(quota)

    def share(self, batch: Batch) -> Share:
        """The batch's part of its caller's quota, for the documents it receives."""
        return self._shares[batch.id]

    def release(self, batch_id: str) -> None:
        """The batch's documents no longer count against its caller's quota (consented, or gone)."""
        share = self._shares.pop(batch_id, None)
        if share is not None:
            share.release()

    async def add_document(self, batch: Batch, name: str, chunks: AsyncIterator[bytes]) -> None:
        """Stream one document to disk as the batch's next item, hashing it; refused beyond the
        batch's count or its caller's quota, or empty."""
        self._check_room(batch)
        index = len(batch.items)
        path = self.journal.input(batch.id, index)
        size, sha256 = await stream_to_disk(path, chunks, self.share(batch))
        if size == 0:
            path.unlink()
            raise SignerError(Code.DOCUMENT_INVALID, f"{name or index}: the document is empty",
                              vi=f"{name or index}: văn bản rỗng")
        batch.items.append(Item(index=index, name=name or f"{index + 1}.pdf", sha256=sha256, size=size))

    def receiving_into(self, batch: Batch, key: int) -> Path:
        """Where a document for the batch is downloaded before ``add_received`` takes it."""
        return self.journal.received(batch.id, key)

    def add_received(self, batch: Batch, name: str, path: Path, sha256: str, size: int) -> int:
        """A document already on disk (downloaded into ``receiving_into``, its bytes taken from
        the batch's ``share`` as they arrived) becomes the batch's next item; its index.
        Refused (the file deleted, its bytes given back) beyond the batch's count or empty."""
        try:
            self._check_room(batch)
            if size == 0:
                raise SignerError(Code.DOCUMENT_INVALID, f"{name}: the document is empty", vi=f"{name}: văn bản rỗng")
            index = len(batch.items)
            os.replace(path, self.journal.input(batch.id, index))
        except BaseException:
            self.share(batch).give_back(size)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        batch.items.append(Item(index=index, name=name or f"{index + 1}.pdf", sha256=sha256, size=size))
        return index

    def _check_room(self, batch: Batch) -> None:
        limits = self.limits
        if len(batch.items) >= limits.batch_max_files:
            raise SignerError(Code.TOO_LARGE, f"more than {limits.batch_max_files} documents",
                              limit_mb=limits.batch_max_mb)
