"""Walking a page tree that may be hostile: kids that lead back to an ancestor, a page
reached twice, a chain of /Parent links that never ends, thousands of nested levels.

The walks are written once, for any PDF library's objects (pyHanko's for placing the
block, pdfminer's for reading the text): both see the pages in the same order. They keep
no Python recursion, so no document can exhaust the interpreter's stack through them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import TypeVar

from ..errors import Code, SignerError

# Real page trees are a few levels deep (balanced, a few dozen kids a node): ten levels
# of ten kids hold ten billion pages.
MAX_DEPTH = 64

Node = TypeVar("Node")


def leaves(root: Node, kids: Callable[[Node], Sequence[Node] | None], key: Callable[[Node], Hashable]
           ) -> list[Node]:
    """The pages under ``root`` in document order. ``kids``: a node's children, or None for
    a page; ``key``: what identifies a node (its object number)."""
    pages: list[Node] = []
    seen: set[Hashable] = set()
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        ident = key(node)
        if ident in seen:
            raise SignerError(Code.DOCUMENT_INVALID, f"the page tree reaches object {ident} twice (a cycle)",
                              vi=f"cây trang đi qua đối tượng {ident} hai lần (vòng lặp)")
        seen.add(ident)
        children = kids(node)
        if children is None:
            pages.append(node)
        elif depth >= MAX_DEPTH:
            raise SignerError(Code.DOCUMENT_TOO_COMPLEX, f"the page tree is more than {MAX_DEPTH} levels deep",
                              vi=f"cây trang sâu hơn {MAX_DEPTH} cấp")
        else:
            stack.extend((child, depth + 1) for child in reversed(children))
    return pages


def lineage(page: Node, parent: Callable[[Node], Node | None], key: Callable[[Node], Hashable]) -> Iterator[Node]:
    """The page, then its ancestors by /Parent (where inherited attributes come from)."""
    seen: set[Hashable] = set()
    node: Node | None = page
    while node is not None:
        ident = key(node)
        if ident in seen:
            raise SignerError(Code.DOCUMENT_INVALID, f"a page's /Parent links lead back to object {ident}",
                              vi=f"liên kết /Parent của một trang dẫn ngược về đối tượng {ident}")
        if len(seen) > MAX_DEPTH:
            raise SignerError(Code.DOCUMENT_TOO_COMPLEX, f"a page has more than {MAX_DEPTH} ancestors",
                              vi=f"một trang có hơn {MAX_DEPTH} cấp cha")
        seen.add(ident)
        yield node
        node = parent(node)
