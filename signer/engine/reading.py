"""Reading an untrusted document: whatever a PDF library raises on it becomes a refusal
with a code, never an internal error.

pyHanko and pdfminer raise many kinds of exception on broken files (their own, and
KeyError, IndexError, AssertionError, zlib.error...); a reference loop or deep nesting
exhausts the interpreter's stack inside them (RecursionError); a document built to
inflate exhausts memory (MemoryError, in a process with a memory limit). Each engine
entry point that reads a document does so inside ``reading()``.

An error raised in our own code is refused all the same (the page sent a document that met
it) but logged with its traceback, so that a bug of ours does not pass for a broken file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from pyhanko.pdf_utils.misc import PdfDecodeLimitError

from ..errors import Code, SignerError
from ..logs import get_logger
from .decoding import DecodeLimitExceeded

log = get_logger(__name__)


@contextmanager
def reading() -> Iterator[None]:
    try:
        yield
    except SignerError:
        raise
    except (DecodeLimitExceeded, PdfDecodeLimitError) as exc:
        raise SignerError(Code.DOCUMENT_TOO_COMPLEX, reason(exc),
                          vi=f"vượt giới hạn giải nén dữ liệu: {reason(exc)}") from None
    except MemoryError:
        raise SignerError(Code.DOCUMENT_TOO_COMPLEX, "reading it needs more memory than allowed",
                          vi="đọc văn bản cần nhiều bộ nhớ hơn mức cho phép") from None
    except RecursionError:  # our own walks have none: a library followed a loop (or nesting) down
        # a bound on reading, not damage: a rewrite (``repair``) must not be a way around it
        raise SignerError(Code.DOCUMENT_INVALID, "its objects refer back to themselves, or nest too deeply",
                          repairable=False,
                          vi="các đối tượng trong tệp tham chiếu vòng về chính chúng hoặc lồng nhau quá sâu") from None
    except Exception as exc:  # any library error on a broken file is the file's fault
        origin = _origin(exc.__traceback__)
        if origin.partition(".")[0] == "signer":
            log.warning("document_read_error", error=type(exc).__name__, origin=origin, exc_info=exc)
        raise SignerError(Code.DOCUMENT_INVALID, reason(exc), vi=f"thư viện đọc PDF báo lỗi: {reason(exc)}") from None


def _origin(trace: TracebackType | None) -> str:
    """The module of the innermost frame of ``trace``: where the exception was raised."""
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    return str(trace.tb_frame.f_globals.get("__name__", "")) if trace is not None else ""


def reason(exc: BaseException) -> str:
    """The first line of an exception's message, for a detail (with the type of a built-in
    exception, whose message alone says little: "KeyError: '/Kids'")."""
    text = str(exc).strip()
    if not text or type(exc).__module__ == "builtins":
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text.splitlines()[0][:200]
