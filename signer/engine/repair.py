"""Damaged but readable PDFs, rewritten losslessly so that they can be signed.

A file pyHanko refuses while reading it (a broken cross-reference table, a wrong
``startxref``, a damaged stream dictionary, a wrong stream ``/Length``) is often one that
qpdf, poppler and browsers open: they rebuild what is broken. Such a file is rewritten once
by qpdf (through pikepdf): opened with its recovery, then saved with nothing changed: no
stream decoded or recompressed (so no stream can inflate here), object streams kept as they
are, no linearisation, inherited page attributes left where they were, the metadata as it
was. The rewrite is what is then read, signed and returned.

A rewrite moves and renumbers objects: a signature already in the file would no longer
cover its byte ranges. So a damaged file that carries a signature (a ``/ByteRange`` in any
dictionary, a signature field with a value) is refused with DOCUMENT_DAMAGED, and one whose
signatures qpdf cannot even look for keeps its first refusal.
"""

from __future__ import annotations

import io

import pikepdf

from ..errors import Code, SignerError
from . import budget

GROWTH = 2  # a rewrite only adds a rebuilt cross-reference table: twice the input is already too much
SLACK = 64 * 1024  # room for that table in a small file
MAX_FIELD_DEPTH = 32  # a form's field tree, as pyHanko reads it


def rewrite(data: bytes, damage: SignerError) -> bytes:
    """``data`` rewritten by qpdf; ``damage`` (the reader's refusal) when qpdf cannot read it either."""
    try:
        with pikepdf.open(io.BytesIO(data), inherit_page_attributes=False, attempt_recovery=True) as document:
            if document.is_encrypted:
                raise SignerError(Code.DOCUMENT_ENCRYPTED)
            signed = _signed(document) or b"/ByteRange" in data
            if signed:
                raise SignerError(Code.DOCUMENT_DAMAGED, damage.detail, vi=damage.vi)
            out = io.BytesIO()
            document.save(out, preserve_pdfa=True, fix_metadata_version=False, compress_streams=False,
                          stream_decode_level=pikepdf.StreamDecodeLevel.none,
                          object_stream_mode=pikepdf.ObjectStreamMode.preserve, linearize=False)
    except pikepdf.PasswordError:
        raise SignerError(Code.DOCUMENT_ENCRYPTED) from None
    except (pikepdf.PdfError, pikepdf.PikepdfError, ValueError, TypeError, RuntimeError, AttributeError, KeyError,
            IndexError):  # what pikepdf raises on a file (or an object) it cannot read
        raise damage from None  # qpdf cannot read it (or tell whether it is signed) either
    limit = min(max(GROWTH * len(data), len(data) + SLACK), budget.current().rewritten_max_bytes)
    if out.tell() > limit:
        raise SignerError(Code.DOCUMENT_TOO_COMPLEX, f"its repair would take {out.tell()} bytes "
                                                     f"from {len(data)}; at most {limit} are allowed",
                          vi=f"bản sửa sẽ chiếm {out.tell()} byte "
                             f"từ {len(data)} byte; chỉ cho phép tối đa {limit} byte")
    return out.getvalue()


def _signed(document: pikepdf.Pdf) -> bool:
    """Whether qpdf finds a signature: a signature dictionary anywhere, or a signature field with a value."""
    for obj in document.objects:
        if isinstance(obj, pikepdf.Dictionary) and "/ByteRange" in obj:
            return True
    form = document.Root.get("/AcroForm")
    fields = form.get("/Fields") if isinstance(form, pikepdf.Dictionary) else None
    return isinstance(fields, pikepdf.Array) and _signature_field(fields, None, 0, set())


def _signature_field(fields: pikepdf.Array, kind: object, depth: int, seen: set[tuple[int, int]]) -> bool:
    if depth > MAX_FIELD_DEPTH:
        raise ValueError("the form's fields nest too deeply")
    for field in fields:
        if not isinstance(field, pikepdf.Dictionary):
            continue
        if field.is_indirect:
            if field.objgen in seen:
                continue
            seen.add(field.objgen)
        own = field.get("/FT", kind)  # a field's type is inherited from its parent
        if own == pikepdf.Name.Sig and "/V" in field:
            return True
        kids = field.get("/Kids")
        if isinstance(kids, pikepdf.Array) and _signature_field(kids, own, depth + 1, seen):
            return True
    return False
