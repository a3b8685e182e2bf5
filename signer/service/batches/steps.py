"""A batch's per-document steps: the options it was created with, the pages counted for the
consent dialog, the first document whose block the official places, a document prepared
(parsed, placed and hashed in a worker process) and a prepared document signed and written.
The manager runs them in its pipeline and settles each item."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ...errors import Code, SignerError
from ...files import write_atomically
from ...lazy import lazy_import
from ..caller import Caller
from ..documents.pool import DocumentPool
from ..options import PdfSignOptions, from_fields
from ..placing import OFFICIAL, Placed, Placing
from ..signing import CheckedKey, SigningService
from .journal import FAILED, PENDING, Batch, Item, Journal
from .progress import Progress, item_event

if TYPE_CHECKING:  # the document stack is imported with the first batch
    from ...engine import levels, pdf
else:
    pdf = lazy_import("signer.engine.pdf")


def batch_options(batch: Batch, *, fallback: bool = True) -> PdfSignOptions:
    """``fallback`` False: a block nothing places is ANCHOR_NOT_FOUND (the official will be asked)."""
    options = from_fields(batch.options)[0]
    return replace(options, placement=replace(options.placement, fallback=fallback))


@dataclass
class DocumentSteps:
    service: SigningService
    journal: Journal
    pool: DocumentPool
    progress: Progress

    async def first_to_place(self, batch: Batch, caller: Caller, options: PdfSignOptions) -> Placing | None:
        """The question for the dialog: the first document whose block nothing places (None: none).
        Its pages are rendered when the dialog asks for them."""
        if options.profile is None:
            return None
        for item in batch.items:
            if item.state != PENDING:
                continue
            path = self.journal.input(batch.id, item.index)
            try:
                item.pages = (await self.pool.inspect_file(path, options)).pages
                continue
            except SignerError as error:
                if error.code is not Code.ANCHOR_NOT_FOUND:
                    continue  # refused with its own code when it is prepared
            item.pages = await self.pool.pages(path)
            return self.service.placing(caller, await asyncio.to_thread(path.read_bytes), item.name,
                                        options.profile, item.pages)
        return None

    async def count_pages(self, batch: Batch) -> None:
        """For the consent dialog; a document that cannot be read fails now, before consent."""
        for item in batch.items:
            if item.state == PENDING and item.pages is None:
                try:
                    item.pages = await self.pool.pages(self.journal.input(batch.id, item.index))
                except SignerError as error:
                    item.state, item.error = FAILED, error.code
                    self.progress.publish(batch, item_event(batch, item))

    def signed_before(self, batch: Batch, item: Item) -> bool:
        """Its output exists: it was signed before an interruption (never signed twice)."""
        return self.journal.output(batch.id, item.index).exists()

    async def prepare(self, batch: Batch, item: Item, key: pdf.KeyOutline, options: PdfSignOptions,
                      reserve: int, placed: Placed | None) -> pdf.PreparedPdf | SignerError | None:
        """Read, parse, place, add the field and hash, in a worker process (no token call); a
        block nothing places goes where the official put it (``placed``). None: signed before."""
        if self.signed_before(batch, item):
            return None
        path = self.journal.input(batch.id, item.index)
        try:
            try:
                return await self.pool.prepare(path, key, options, reserve)
            except SignerError as error:
                if error.code is not Code.ANCHOR_NOT_FOUND or placed is None:
                    raise
            pages = item.pages or await self.pool.pages(path)
            prepared = await self.pool.prepare(path, key, replace(options, placement=placed.request(pages)), reserve)
            if prepared.spot is not None:
                prepared.spot = replace(prepared.spot, placed_by=OFFICIAL)
            return prepared
        except SignerError as error:
            if error.code is Code.FILE_UNREADABLE:
                return SignerError(error.code, f"{item.name}: {error.detail}",
                                   vi=f"{item.name}: {error.vi or error.detail}")
            return error

    async def complete(self, batch: Batch, item: Item, checked: CheckedKey, prepared: pdf.PreparedPdf, level: str,
                       tsa: levels.TsaClient | None) -> pdf.SignedPdf | SignerError:
        """Signed and written: its signed form, or the error that fails this item (one that
        ends the batch is raised)."""
        try:
            signed = await pdf.complete_pdf(prepared, checked.key, level, tsa, checked.evidence)
            item.repaired_sha256 = signed.repaired_sha256  # damaged: its lossless rewrite was signed
            await asyncio.to_thread(write_atomically, self.journal.output(batch.id, item.index), signed.data,
                                    mode=0o600)
        except SignerError as error:
            if error.ends_batch:
                raise
            return error
        return signed
