"""The import graph of our own packages, read from the source with ``ast`` (nothing is imported).

Every import statement counts, wherever it is: at module level, under ``if TYPE_CHECKING:``,
inside a function. ``from pkg import name`` is an edge to ``pkg.name`` when that is a module
of ours, else to ``pkg``; imports of anything outside our packages are left out.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("signer", "drivers", "policies", "tray")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module of ours
    line: int


@cache
def modules() -> dict[str, Path]:
    """Every module of our packages by dotted name (a package by its own name, for ``__init__.py``)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``name`` is one of ``prefixes`` or inside one of them (``a.b`` is within ``a``, ``a.bc`` is not)."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def parse(module: str) -> ast.Module:
    return ast.parse(modules()[module].read_text(encoding="utf-8"), filename=str(modules()[module]))


def absolute(module: str, node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` statement in ``module`` reads from, relative dots resolved."""
    if not node.level:
        return node.module or ""
    package = module if modules()[module].name == "__init__.py" else module.rpartition(".")[0]
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def bindings(module: str, tree: ast.Module) -> dict[str, str]:
    """The names the imports in ``module`` bind, each to the dotted name it stands for
    (``import a.b`` binds ``a`` to ``a``; ``from a import b as c`` binds ``c`` to ``a.b``)."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.partition(".")[0]] = alias.name if alias.asname else alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom):
            origin = absolute(module, node)
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{origin}.{alias.name}"
    return bound


def ours(name: str) -> str | None:
    """The module of ours that ``name`` (a module, or a name inside one) belongs to, if any."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> list[Import]:
    found: dict[Import, None] = {}  # ordered, without the repeats of ``from a import b, c``
    for node in ast.walk(parse(module)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            origin = absolute(module, node)
            targets = [f"{origin}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in filter(None, map(ours, targets)):
            if target != module:  # a package's ``from . import name`` of a name it defines
                found[Import(module, target, node.lineno)] = None
    return list(found)


@cache
def all_imports() -> tuple[Import, ...]:
    return tuple(edge for module in modules() for edge in imports_of(module))


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {module: set() for module in modules()}
    for edge in all_imports():
        edges[edge.source].add(edge.target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while not component or component[-1] != node:
                        component.append(stack.pop())
                        on_stack.discard(component[-1])
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(found)
