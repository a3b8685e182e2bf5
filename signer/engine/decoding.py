"""Caps on decoding a document's streams: no stream inflates past an absolute size, nor,
once past a few megabytes, past a multiple of its encoded size; and all the text reading
of one document together decodes no more than that absolute size.

Why these numbers (``decoded_max_mb`` 256, ``decoded_max_ratio`` 100, floor 4 MB): what
pdfminer and pyHanko decode here is content streams, fonts, CMaps, object and
cross-reference streams, never the pixels of an image (pdfminer's layout keeps an image's
stream encoded; pyHanko adds to the file without rewriting it). Text and drawing
operators compress 3 to 15 times, fonts 2 to 3 times, a cross-reference stream with a
predictor about 10 times; a blank page's few bytes may compress a thousand times, which
the floor lets through. Deflate cannot exceed about 1032:1, so a ratio of 100 separates a
bomb from any real stream of more than 4 MB, and refuses a 1 GB bomb once 100 MB of it
(100 times its size) is out. A large scanned document passes: its images are not decoded.

pyHanko (0.38) takes such limits as a supported parameter (``DecodeLimits``, given to its
reader). pdfminer has no hook: ``pdfminer.pdftypes`` calls ``zlib.decompress`` and its
other decoders by module-level names inside ``PDFStream.decode``, with no limit. ``install``
replaces those names, once, with bounded equivalents; the rest of pdfminer's decoding
(filter chains, predictors, encryption) stays its own.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import SimpleNamespace

import pdfminer.pdftypes
from pdfminer.ascii85 import ascii85decode
from pdfminer.ccitt import ccittfaxdecode
from pdfminer.lzw import LZWDecoder
from pdfminer.runlength import rldecode
from pyhanko.pdf_utils.decode_limits import DecodeLimits, DocumentDecodeBudget, StreamDecodeLimits

from . import budget

MB = 1024 * 1024
RATIO_FLOOR = 4 * MB  # a stream may always decode to this much, whatever its ratio
_CHUNK = 64 * 1024  # input fed to zlib at a time (a damaged stream keeps what came before)
_STEP = 8 * MB  # output asked of zlib at a time (so the last step before the cap stays small)


class DecodeLimitExceeded(Exception):
    """A stream would inflate past its cap (raised inside pdfminer, translated by ``reading``)."""


@dataclass
class Allowance:
    """What one document's text reading may still decode, in bytes."""

    remaining: int


_allowance: ContextVar[Allowance | None] = ContextVar("decode_allowance", default=None)


@contextmanager
def drawing_on(allowance: Allowance) -> Iterator[None]:
    """pdfminer's decoding in this block is charged to ``allowance``."""
    token = _allowance.set(allowance)
    try:
        yield
    finally:
        _allowance.reset(token)


def pyhanko_limits() -> DecodeLimits:
    """The same caps for pyHanko's reader (its stricter per-purpose defaults stay)."""
    read = budget.current()
    return DecodeLimits(
        per_stream=StreamDecodeLimits(max_ratio=read.decoded_max_ratio, ratio_floor=RATIO_FLOOR,
                                      max_output_size=read.decoded_max_bytes),
        document_budget=DocumentDecodeBudget(base_allowance=read.decoded_max_bytes, max_ratio=read.decoded_max_ratio))


def stream_cap(encoded: int) -> int:
    """The most bytes one decoding step may produce from ``encoded`` bytes."""
    read = budget.current()
    cap = min(read.decoded_max_bytes, max(RATIO_FLOOR, int(read.decoded_max_ratio * encoded)))
    allowance = _allowance.get()
    return cap if allowance is None else min(cap, allowance.remaining)


def _charge(cap: int, size: int) -> None:
    if size > cap:
        raise DecodeLimitExceeded(f"a stream decodes to more than {cap // MB or 1} MB")
    allowance = _allowance.get()
    if allowance is not None:
        allowance.remaining -= size


def inflate(data: bytes) -> bytes:
    """``zlib.decompress`` within the cap, never holding more than the cap. A damaged stream
    gives what came before the damage (pdfminer would retry it byte by byte, without a cap
    and in quadratic time)."""
    cap = stream_cap(len(data))
    decompressor = zlib.decompressobj()
    out = bytearray()
    try:
        for start in range(0, len(data), _CHUNK):
            pending = data[start:start + _CHUNK]
            while pending and not decompressor.eof:
                out += decompressor.decompress(pending, min(cap + 1 - len(out), _STEP))
                if len(out) > cap:
                    _charge(cap, len(out))
                pending = decompressor.unconsumed_tail
            if decompressor.eof:
                break
    except zlib.error:
        pass
    _charge(cap, len(out))
    return bytes(out)


def lzw(data: bytes) -> bytes:
    cap = stream_cap(len(data))
    out = bytearray()
    for piece in LZWDecoder(io.BytesIO(data)).run():
        out += piece
        if len(out) > cap:
            _charge(cap, len(out))
    _charge(cap, len(out))
    return bytes(out)


def run_length(data: bytes) -> bytes:
    """Sized first (a run of two bytes gives up to 128), decoded by pdfminer once it fits."""
    cap = stream_cap(len(data))
    size = index = 0
    while index < len(data) and data[index] != 128:
        length = data[index]
        size += length + 1 if length < 128 else 257 - length
        index += length + 2 if length < 128 else 2
        if size > cap:
            _charge(cap, size)
    _charge(cap, size)
    return rldecode(data)


def ascii85(data: bytes) -> bytes:
    """At most four bytes per input byte ("z"), one per input byte otherwise."""
    cap = stream_cap(len(data))
    _charge(cap, len(data) + 3 * data.count(b"z"))
    return ascii85decode(data)


def ccitt(data: bytes, params: dict[str, object]) -> bytes:
    """A row takes at least one bit: sized by the rows the input could hold."""
    cap = stream_cap(len(data))
    columns = params.get("Columns", 1728)
    row_bytes = ((columns if isinstance(columns, int) and columns > 0 else 1728) + 7) // 8
    _charge(cap, 8 * len(data) * row_bytes)
    return ccittfaxdecode(data, params)


# pdfminer.pdftypes' names for its decoders, and their bounded equivalents.
_BOUNDED: dict[str, object] = {
    "zlib": SimpleNamespace(decompress=inflate, decompressobj=zlib.decompressobj, error=zlib.error),
    "lzwdecode": lzw,
    "rldecode": run_length,
    "ascii85decode": ascii85,
    "ccittfaxdecode": ccitt,
}


def install() -> None:
    """Bound pdfminer's decoders (for the whole process; installing again changes nothing)."""
    for name, bounded in _BOUNDED.items():
        if not hasattr(pdfminer.pdftypes, name):  # a pdfminer that decodes differently: fail loudly
            raise RuntimeError(f"pdfminer.pdftypes has no {name}: the decoding caps need updating")
        setattr(pdfminer.pdftypes, name, bounded)
