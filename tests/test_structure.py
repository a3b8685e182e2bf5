"""The layers of the code hold: no import cycles, each layer imports only what it may, the engine
signs only when the service layer asks, and the engine and validation run without PKCS#11.

Read from the source (``import_graph``) except the last test, which imports in a fresh interpreter.
A module named in a layering rule that does not exist yet has no imports, so the rule holds for
it; a module named in ``WITHOUT_PKCS11`` is imported, so it must exist.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
from import_graph import (
    ROOT,
    all_imports,
    bindings,
    cycles,
    graph,
    modules,
    parse,
    within,
)

EDGES = ("signer.api", "signer.vgca", "signer.cli", "signer.companion", "signer.app", "signer.server")


@dataclass(frozen=True)
class Rule:
    importers: tuple[str, ...]  # the modules (and everything inside them) the rule is about
    forbidden: tuple[str, ...]  # what they may not import
    exempt: tuple[str, ...] = ()  # importers the rule leaves out


# The layering, one entry per test below; adjust here as the layers move.
RULES: dict[str, tuple[Rule, ...]] = {
    "drivers_policies_stand_alone": (
        Rule(("drivers",), ("signer", "tray", "policies")),
        Rule(("policies",), ("signer", "tray", "drivers")),
    ),
    "tray_only_talks_to_the_daemon": (Rule(("tray",), ("signer", "drivers", "policies")),),
    "only_keys_import_drivers": (Rule(("signer",), ("drivers",), exempt=("signer.keys",)),),
    "engine_below_keys_service_edges": (
        Rule(("signer.engine",), ("signer.keys", "signer.service", "signer.daemon", *EDGES)),
    ),
    "edges_go_through_the_service": (Rule(EDGES, ("signer.engine", "drivers")),),
    "service_below_edges": (Rule(("signer.service",), (*EDGES, "signer.daemon")),),
}

# The engine's signing entry points, and who may call them.
ENGINE_SIGN = {"sign_pdf", "complete_pdf", "sign_cms", "sign_digest", "sign_xml", "finish_xml"}
MAY_CALL_ENGINE = ("signer.engine", "signer.service")

# Modules that must import without PKCS#11 (python-pkcs11's ``pkcs11``) being loaded.
WITHOUT_PKCS11 = ("signer.engine.pdf", "signer.engine.cms", "signer.validation.report",
                  "signer.service.documents.pool", "signer.service.documents.tasks")


def broken(*rules: Rule) -> list[str]:
    """Every import that goes against one of ``rules``."""
    return [
        f"{edge.source} imports {edge.target} (line {edge.line})"
        for rule in rules
        for edge in all_imports()
        if within(edge.source, rule.importers) and not within(edge.source, rule.exempt)
        and within(edge.target, rule.forbidden)
    ]


def assert_holds(rule: str) -> None:
    found = broken(*RULES[rule])
    assert not found, f"{rule}:\n" + "\n".join(found)


def test_no_import_cycles() -> None:
    found = cycles(graph())
    assert not found, "import cycles (TYPE_CHECKING imports included):\n" + "\n".join(" <-> ".join(c) for c in found)


def test_drivers_and_policies_import_nothing_else_of_ours() -> None:
    assert_holds("drivers_policies_stand_alone")


def test_tray_imports_nothing_of_the_daemon() -> None:
    assert_holds("tray_only_talks_to_the_daemon")


def test_only_the_key_layer_imports_drivers() -> None:
    assert_holds("only_keys_import_drivers")


def test_engine_imports_no_layer_above_it() -> None:
    assert_holds("engine_below_keys_service_edges")


def test_edges_reach_the_engine_and_drivers_only_through_the_service() -> None:
    assert_holds("edges_go_through_the_service")


def test_service_imports_no_edge() -> None:
    assert_holds("service_below_edges")


def engine_sign_calls(module: str) -> list[str]:
    """Calls in ``module`` of an engine signing function, through a name or a module alias it imported."""
    tree = parse(module)
    bound = bindings(module, tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        parts, func = [], node.func
        while isinstance(func, ast.Attribute):
            parts.insert(0, func.attr)
            func = func.value
        if not isinstance(func, ast.Name) or func.id not in bound:
            continue  # a local function or a method: not something imported from the engine
        callee = ".".join([bound[func.id], *parts])
        if within(callee, ("signer.engine",)) and callee.rpartition(".")[2] in ENGINE_SIGN:
            found.append(f"{module} calls {callee} (line {node.lineno})")
    return found


def test_only_the_service_calls_the_engine_to_sign() -> None:
    callers = [m for m in modules() if within(m, ("signer",)) and not within(m, MAY_CALL_ENGINE)]
    found = [call for module in callers for call in engine_sign_calls(module)]
    assert not found, "engine signing called outside the service layer:\n" + "\n".join(found)


@pytest.mark.parametrize("module", WITHOUT_PKCS11)
def test_imports_without_pkcs11(module: str) -> None:
    # -X importtime shows who imported what: each module after the ones it imported, one level deeper.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    code = f"import sys, {module}; print('pkcs11' in sys.modules)"
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert run.returncode == 0, "\n".join(line for line in run.stderr.splitlines() if not line.startswith("import time:"))
    assert run.stdout.strip() == "False", f"importing {module} loads pkcs11 through: {import_chain(run.stderr, 'pkcs11')}"


def import_chain(importtime: str, name: str) -> str:
    """From ``-X importtime`` output: ``name`` and the modules that imported it, innermost first."""
    rows = [line.rsplit("|", 1)[1] for line in importtime.splitlines() if line.startswith("import time:") and "|" in line]
    chain, depth = [], None
    for row in rows:
        level = (len(row) - len(row.lstrip())) // 2
        if (depth is None and row.strip() == name) or (depth is not None and level < depth):
            chain.append(row.strip())
            depth = level
    return " <- ".join(chain)
