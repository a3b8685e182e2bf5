"""The document work, done in a worker process. Each task takes the document's bytes (or the
path of a batch's document, read here) and plain arguments, and gives back plain data and
bytes that cross beside it (the prepared document).

A placement plan names objects of the parsed document; it crosses as opaque bytes written
here, whose references to the document are re-bound to the next parse of the same bytes.

A document refused as DOCUMENT_INVALID while it is read is rewritten losslessly by qpdf
(``engine.repair``), within the same budget, and read again: the rewrite is what is placed
and prepared, and it crosses back beside the answer of ``inspect`` so that the rest of the
signature (preview, preparation, the reply) uses it."""

from __future__ import annotations

import asyncio
import gc
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ...errors import Code, SignerError, os_reason_vi
from ...lazy import lazy_import

if TYPE_CHECKING:
    from asn1crypto import x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    from ...engine import appearance, pdf, preview, repair
    from ...engine.options import PdfSignOptions
    from ...validation import report
else:
    pdf, preview = lazy_import("signer.engine.pdf"), lazy_import("signer.engine.preview")
    repair = lazy_import("signer.engine.repair")
    report = lazy_import("signer.validation.report")
    x509 = lazy_import("asn1crypto.x509")

Answer = tuple[Any, bytes | memoryview]  # the plain answer, and bytes that cross beside it
T = TypeVar("T")


def load() -> None:
    """The document stack, loaded before the first document (and frozen with the rest)."""
    for module in (pdf, preview, report, repair):
        getattr(module, "__name__")  # noqa: B009 - reading an attribute makes a lazy module load


def inspect(data: bytes, *, options: PdfSignOptions, path: str | None = None) -> Answer:
    """Before consent: the page count and where the block goes (None: an invisible signature, or
    a place left to find once the certificate is known, its title and printed name with it);
    beside them, the document's rewrite when it had to be repaired (empty otherwise)."""
    unknown = options.placement.holder is None and not options.placement.anchor  # the certificate, not yet read

    def inspected(document: bytes) -> tuple[int, bytes | None]:
        writer = pdf.open_pdf(document)
        try:
            plan = pdf.plan_pdf(document, options, writer)
        except SignerError as error:
            if error.code != Code.ANCHOR_NOT_FOUND or not unknown:
                raise
            plan = None
        if plan is not None and plan.spot.placed_by == "fallback" and unknown:
            plan = None
        return pdf.page_count(writer), None if plan is None else _portable(plan, writer)

    answer, rewritten = _read(_document(data, path), inspected)
    return answer, rewritten or b""


def prepare(data: bytes, *, path: str | None, key: pdf.KeyOutline, options: PdfSignOptions, reserve: int,
            plan: bytes | None) -> Answer:
    """Parse, place (unless ``plan``), add the field and hash: the prepared document's bytes
    cross beside the rest. A batch's damaged document is repaired here (``plan`` is always
    for a document read already, and repaired then)."""
    def prepared_from(document: bytes) -> pdf.PreparedPdf:
        writer = pdf.open_pdf(document)
        placed = None if plan is None else _attached(plan, writer)
        return pdf.prepare_pdf(document, key, options, bytes_reserved=reserve, parsed=writer, plan=placed)

    prepared, rewritten = _read(_document(data, path), prepared_from)
    prepared.repaired = rewritten is not None
    body = prepared.output.getbuffer()
    prepared.output = io.BytesIO()  # the bytes cross beside it, not in a pickled copy
    return prepared, body


def pages(data: bytes, *, path: str) -> Answer:
    """A batch's document's page count (a damaged one counted in its rewrite)."""
    return _read(_document(data, path), lambda document: pdf.page_count(pdf.open_pdf(document)))[0], b""


def block_preview(data: bytes, *, options: PdfSignOptions, facts: appearance.BlockFacts, scale: float) -> Answer:
    return preview.preview_png(data, options, facts, scale=scale), b""


def page_view(data: bytes, *, index: int, width_px: int) -> Answer:
    """A page for the official to place the block on: its visible box and the page count; the PNG beside."""
    png, visible, count = preview.page_png(data, index, width_px)
    return (visible, count), png


def verify(data: bytes, *, anchors: list[bytes], intermediates: list[bytes], options: dict[str, Any]) -> Answer:
    """A report per signature. ``options`` go to the report unchanged (plain data)."""
    loaded = [x509.Certificate.load(der) for der in anchors]
    others = [x509.Certificate.load(der) for der in intermediates]
    return asyncio.run(_judged(data, loaded, others, options)), b""


async def _judged(data: bytes, anchors: list[x509.Certificate], intermediates: list[x509.Certificate],
                  options: dict[str, Any]) -> list[report.SignatureReport]:
    try:
        return await report.averify_pdf(data, anchors, intermediates, **options)
    except MemoryError:
        pass  # the frames that held the document's objects end with this block...
    gc.collect()
    raise MemoryError  # ...so the event loop winds down with memory to spare


TASKS: dict[str, Callable[..., Answer]] = {
    "inspect": inspect, "prepare": prepare, "pages": pages, "preview": block_preview, "page": page_view,
    "verify": verify}


def _read(data: bytes, work: Callable[[bytes], T]) -> tuple[T, bytes | None]:
    """``work`` done on the document, or, when reading it found it damaged, on its lossless
    rewrite (returned beside; None: the document was read as it is)."""
    try:
        return work(data), None
    except SignerError as refusal:
        if refusal.code is not Code.DOCUMENT_INVALID or not refusal.facts.get("repairable", True):
            raise
        damage = refusal
    rewritten = repair.rewrite(data, damage)
    return work(rewritten), rewritten


def _document(data: bytes, path: str | None) -> bytes:
    if path is None:
        return data
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SignerError(Code.FILE_UNREADABLE, str(exc.strerror or exc), vi=os_reason_vi(exc)) from None


class _PlanPickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, writer: IncrementalPdfFileWriter) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.handlers = {id(writer): "writer", id(writer.prev): "reader"}

    def persistent_id(self, obj: object) -> str | None:
        return self.handlers.get(id(obj))  # the document itself is not written down, only named


class _PlanUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, writer: IncrementalPdfFileWriter) -> None:
        super().__init__(file)
        self.handlers = {"writer": writer, "reader": writer.prev}

    def persistent_load(self, pid: Any) -> object:
        return self.handlers[pid]


def _portable(plan: pdf.PdfPlan, writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    _PlanPickler(out, writer).dump(plan)
    return out.getvalue()


def _attached(plan: bytes, writer: IncrementalPdfFileWriter) -> pdf.PdfPlan:
    placed: pdf.PdfPlan = _PlanUnpickler(io.BytesIO(plan), writer).load()
    return placed
