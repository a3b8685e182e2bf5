"""What start-up loads: ``signer --help`` (and each command's ``--help``, and ``--version``) none
of the signing stack, a command only what it uses, the daemon's modules none of the document stack.

Each check runs in a fresh interpreter and reads ``sys.modules`` there; nothing is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from signer.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
OURS = {"signer", "drivers", "policies", "tray"}

# Named for a clear message; the baseline check below also catches any other third-party package.
NOT_FOR_HELP = ("pyhanko", "pyhanko_certvalidator", "pdfminer", "pypdfium2", "fontTools", "lxml", "PIL",
                "aiohttp", "cryptography", "asn1crypto", "pkcs11", "structlog", "rich", "asyncio", "psutil")
# The document stack comes with the first request that needs it; structlog with the first message.
NOT_FOR_IDLE_DAEMON = ("pyhanko", "pyhanko_certvalidator", "pdfminer", "pypdfium2", "fontTools", "lxml", "PIL",
                       "structlog", "rich", "psutil")

# the daemon's peer check as it is made at start-up (Linux reads /proc, psutil serves elsewhere)
PEER_GATE = """
import json, sys
from signer.security.peers import PeerGate
gate = PeerGate()
with open(sys.argv[1], "w") as file:
    json.dump({"code": gate.strategy, "modules": sorted(sys.modules)}, file)
"""

RUN_CLI = """
import json, sys
out, sys.argv = sys.argv[1], ["signer", *sys.argv[2:]]
from signer.cli import main
try:
    code = main()
except SystemExit as exit:
    code = exit.code
with open(out, "w") as file:
    json.dump({"code": code, "modules": sorted(sys.modules)}, file)
"""

IMPORT = """
import json, sys
for name in sys.argv[2:]:
    __import__(name)
with open(sys.argv[1], "w") as file:
    json.dump({"code": 0, "modules": sorted(sys.modules)}, file)
"""


def loaded(tmp_path: Path, code: str, *args: str) -> tuple[int | None, set[str]]:
    """The exit code of ``code`` run with ``args`` in a fresh interpreter, and the modules it loaded."""
    out = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-c", code, str(out), *args], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert out.exists(), run.stderr
    result = json.loads(out.read_text())
    return result["code"], set(result["modules"])


def packages(modules: set[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


def present(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(set(names) & packages(modules))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Packages a bare interpreter of this environment loads (site's ``.pth`` hooks among them)."""
    return packages(loaded(tmp_path_factory.mktemp("bare"), IMPORT)[1])


def command_names() -> list[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.mark.parametrize("args", [["--help"], ["--version"], *([name, "--help"] for name in command_names())],
                         ids=" ".join)
def test_help_loads_no_signing_stack(tmp_path: Path, baseline: set[str], args: list[str]) -> None:
    code, modules = loaded(tmp_path, RUN_CLI, *args)
    assert code == 0
    assert present(modules, NOT_FOR_HELP) == []
    foreign = packages(modules) - baseline - OURS - set(sys.stdlib_module_names)
    assert foreign == set(), f"signer {' '.join(args)} loads packages besides the standard library: {foreign}"


def test_a_command_loads_what_it_uses(tmp_path: Path) -> None:
    config = tmp_path / "signer.toml"
    config.write_text('[server]\nstate_dir = "state"\ntls_dir = "tls"\napi_token_file = "api-token"\n')
    code, audit = loaded(tmp_path, RUN_CLI, "--config", str(config), "audit")
    assert code == 0
    assert present(audit, NOT_FOR_HELP) == []  # reading the audit log needs no token, no network, no PDF
    code, tls = loaded(tmp_path, RUN_CLI, "--config", str(config), "tls", "status")
    assert code == 0
    assert present(tls, NOT_FOR_HELP) == ["cryptography"]  # it reads certificates, and needs nothing else


def test_daemon_modules_load_no_document_stack(tmp_path: Path) -> None:
    code, modules = loaded(tmp_path, IMPORT, "signer.daemon", "signer.app", "signer.server", "signer.cli.serve")
    assert code == 0
    assert {"signer.daemon", "signer.app", "signer.server", "aiohttp.web"} <= modules  # the imports did happen
    assert present(modules, NOT_FOR_IDLE_DAEMON) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux reads the kernel's tables itself")
def test_the_peer_check_on_linux_loads_no_psutil(tmp_path: Path) -> None:
    strategy, modules = loaded(tmp_path, PEER_GATE)
    assert strategy == "kernel"
    assert "signer.security.psutil_peers" in modules and present(modules, ("psutil",)) == []
