"""The text of a document's pages, as lines of characters, for the anchor search and the
header's blanks.

The document is parsed once (pdfminer's parser and document, the page list once: the
one the caller walked already, or its own walk); a page's text is read when first asked,
through one interpreter whose fonts stay loaded between pages. Nothing else of the
document is read: a 10,000-page file costs its cross-reference table and the pages asked for.

pdfminer joins text split across several text-show operators; lines are rebuilt from the
characters by baseline, left to right, split where columns part, which also copes with
the stacked diacritics some producers place on their own.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Hashable, Iterable, Sequence

from pdfminer.converter import PDFPageAggregator
from pdfminer.layout import LTChar
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import LITERAL_PAGES, PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import PDFObjRef, resolve1

from ..errors import Code, SignerError
from . import budget, decoding
from .pagespace import Rect
from .pagetree import leaves, lineage
from .reading import reading

decoding.install()

Line = list[LTChar]


class PageText:
    """Lines of text, page by page (pages counted from 0). Making one reads nothing.
    ``pages``: the pages' object numbers in order, when the caller has them."""

    def __init__(self, data: bytes, pages: Sequence[int] | None = None) -> None:
        self._data = data
        self._numbers = pages
        self._allowance = decoding.Allowance(budget.current().decoded_max_bytes)
        self._pages: list[object] | None = None
        self._lines: dict[int, list[Line]] = {}
        resources = PDFResourceManager(caching=True)  # fonts loaded once for all pages
        self._device = PDFPageAggregator(resources, laparams=None)
        self._interpreter = PDFPageInterpreter(resources, self._device)

    def __len__(self) -> int:
        return len(self._page_list())

    def lines(self, page: int) -> list[Line]:
        if page not in self._lines:
            with reading(), decoding.drawing_on(self._allowance):
                self._interpreter.process_page(self._page(page))
                self._lines[page] = layout_lines(self._device.get_result())
        return self._lines[page]

    def _page_list(self) -> list[object]:
        if self._pages is None:
            with reading(), decoding.drawing_on(self._allowance):
                self._document = _Document(PDFParser(io.BytesIO(self._data)))
                root = self._document.catalog.get("Pages")
                if self._numbers is not None:
                    self._pages = [PDFObjRef(self._document, number) for number in self._numbers]
                elif root is None:
                    raise SignerError(Code.DOCUMENT_INVALID, "no page tree", vi="không có cây trang")
                else:
                    self._pages = leaves(root, _kids, _key)
        return self._pages

    def _page(self, index: int) -> PDFPage:
        """pdfminer's page, with what it inherits from its ancestors."""
        ref = self._page_list()[index]
        attrs: dict[str, object] = {}
        for node in lineage(ref, lambda node: _dict(node).get("Parent"), _key):
            for name, value in _dict(node).items():
                if node is ref or name in PDFPage.INHERITABLE_ATTRS:
                    attrs.setdefault(name, value)
        return PDFPage(self._document, _key(ref), attrs, None)


class _Document(PDFDocument):
    """pdfminer's document, refusing an object that is a reference leading back to itself:
    pdfminer's ``resolve1`` would follow such a loop for ever."""

    def getobj(self, objid: int) -> object:
        value = super().getobj(objid)
        seen = {objid}
        while isinstance(value, PDFObjRef):
            if value.objid in seen:
                raise SignerError(Code.DOCUMENT_INVALID, f"object {objid} refers to itself through references",
                                  vi=f"đối tượng {objid} tham chiếu vòng về chính nó")
            seen.add(value.objid)
            value = super().getobj(value.objid)
        return value


def _dict(node: object) -> dict:
    value = resolve1(node)
    if not isinstance(value, dict):
        raise SignerError(Code.DOCUMENT_INVALID, "a page tree node is not a dictionary",
                          vi="một nút của cây trang không phải là từ điển (dictionary)")
    return value


def _kids(node: object) -> Sequence[object] | None:
    value = _dict(node)
    if value.get("Type") is not LITERAL_PAGES and "Kids" not in value:
        return None
    kids = resolve1(value.get("Kids"))
    if not isinstance(kids, list):
        raise SignerError(Code.DOCUMENT_INVALID, "a page tree node's /Kids is not an array",
                          vi="mục /Kids của một nút trong cây trang không phải là mảng")
    return kids


def _key(node: object) -> Hashable:
    return node.objid if isinstance(node, PDFObjRef) else id(node)


def layout_lines(layout: Iterable) -> list[Line]:
    """A page layout's characters as lines: by baseline, left to right, split where columns part."""
    by_baseline: dict[int, list[LTChar]] = {}
    for char in _chars(layout):
        by_baseline.setdefault(round(char.matrix[5]), []).append(char)
    return [segment for chars in by_baseline.values() for segment in _segments(sorted(chars, key=lambda c: c.x0))]


def _segments(chars: list[LTChar]) -> list[Line]:
    """Split a baseline where the gap is wider than two ems: two columns, not one line."""
    segments = [[chars[0]]]
    for char in chars[1:]:
        previous = segments[-1][-1]
        if char.x0 - previous.x1 > 2 * max(char.size, previous.size):
            segments.append([char])
        else:
            segments[-1].append(char)
    return segments


def _chars(layout: Iterable) -> list[LTChar]:
    """The characters in the layout's tree (figures hold those of form XObjects), in order."""
    chars: list[LTChar] = []
    stack: list[object] = [layout]
    while stack:
        item = stack.pop()
        if isinstance(item, LTChar):
            chars.append(item)
        elif isinstance(item, Iterable):
            stack.extend(reversed(list(item)))
    return chars


def line_text(chars: Line) -> str:
    text, previous = "", None
    for char in chars:
        if previous is not None and char.x0 - previous.x1 > 0.25 * char.size:
            text += " "
        text += char.get_text()
        previous = char
    return text


def line_box(chars: Line) -> Rect:
    return (min(c.x0 for c in chars), min(c.y0 for c in chars), max(c.x1 for c in chars), max(c.y1 for c in chars))


def normalized(text: str) -> str:
    return " ".join(nfc(text).casefold().split())


def nfc(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())
