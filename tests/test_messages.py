"""Every message is whole in both languages: each error raised with a detail gives it in
Vietnamese too (read from the source), and real runs of the command line show Vietnamese
without English in the Vietnamese half, the labels there are, and the loader's reason."""

from __future__ import annotations

import ast
import ctypes
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import DOCUMENTS, REPO, DevEnv, assert_no_traceback, signer_cli

from signer.errors import KINDS, Code

RAISERS = ("SignerError", "TokenError")
# Files whose details are still English only; the last test fails once one of them no longer
# needs its place here.
PENDING: set[str] = set()
SHARED_TERMS = {"USB", "token", "PIN", "PKCS", "CA"}  # written alike in both languages


def _code_name(call: ast.Call) -> str | None:
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name) and first.value.id == "Code":
        return first.attr
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None  # a code only known when it runs: its detail may be shown


def _shows_detail(call: ast.Call) -> bool:
    name = _code_name(call)
    return name not in Code.__members__ or "{detail}" in KINDS[Code(name)].message_vi


def _english_only(path: Path, root: Path = REPO) -> list[str]:
    """``file:line`` (from ``root``) of each error raised with a shown detail and no ``vi=``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name not in RAISERS or any(k.arg == "vi" for k in node.keywords):
            continue
        detail = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "detail"),
                                                               None)
        if detail is None or (isinstance(detail, ast.Constant) and detail.value == ""):
            continue
        if _shows_detail(node):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def _sources() -> list[Path]:
    return sorted(p for package in ("signer", "drivers") for p in (REPO / package).rglob("*.py"))


def test_every_detail_has_its_vietnamese() -> None:
    missing = [site for path in _sources() if str(path.relative_to(REPO)) not in PENDING
               for site in _english_only(path)]
    assert missing == [], "raised with an English detail and no vi=: " + ", ".join(missing)


def test_the_check_finds_a_detail_without_vietnamese(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('raise SignerError(Code.BAD_REQUEST, "no vi")\n'
                      'raise SignerError(Code.BAD_REQUEST, "both", vi="cả hai")\n'
                      'raise SignerError(Code.PIN_EXPIRED, "not shown")\n'
                      'raise TokenError(code, "a code known when it runs")\n', "utf-8")
    assert _english_only(sample, tmp_path) == ["sample.py:1", "sample.py:4"]


def test_pending_files_still_need_their_place() -> None:
    for name in PENDING:
        assert _english_only(REPO / name), f"{name} is bilingual now: take it off PENDING"


def _halves(stderr: str, code: Code) -> tuple[str, str]:
    """The Vietnamese and English halves of ``signer: CODE: vi / en``, without their templates' leads."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"signer: {code}: "), stderr
    lead_en = KINDS[code].message_en.split("{detail}")[0]
    lead_vi = KINDS[code].message_vi.split("{detail}")[0]
    vi, separator, en = lines[0].removeprefix(f"signer: {code}: ").partition(f" / {lead_en}")
    assert separator and vi.startswith(lead_vi), stderr
    return vi.removeprefix(lead_vi), en


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in SHARED_TERMS}


def test_no_token_is_said_in_vietnamese_only(cli, dev_env: DevEnv, tmp_path: Path) -> None:
    empty = tmp_path / "empty-tokens"
    empty.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {empty}\nobjectstore.backend = file\nlog.level = ERROR\n")
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(tmp_path / "x.pdf"),
               env=dev_env.env(SOFTHSM2_CONF=str(conf)))
    assert done.returncode == 5, done.stderr
    assert_no_traceback(done)
    vi, en = _halves(done.stderr, Code.TOKEN_NOT_PRESENT)
    assert _words(en), en
    assert _words(vi) & _words(en) == set(), (vi, en)
    assert re.search(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", vi), vi


def test_an_unknown_certificate_names_the_labels_there_are(cli, tmp_path: Path) -> None:
    listed = cli("certs", "--json")
    assert listed.returncode == 0, listed.stderr
    labels = {entry["label"] for entry in json.loads(listed.stdout)}
    assert len(labels) >= 2, labels
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(tmp_path / "x.pdf"), "--cert", "giam-doc")
    assert done.returncode == 5, done.stderr
    vi, en = _halves(done.stderr, Code.CERT_NOT_FOUND)
    for half in (vi, en):
        assert "giam-doc" in half and all(label in half for label in labels), (half, labels)
    assert _words(vi) & _words(en) <= _words(" ".join(labels)) | {"giam", "doc"}, (vi, en)


@pytest.mark.parametrize("library", ["text", "executable"])
def test_a_module_that_does_not_load_gives_the_loader_reason(library: str, tmp_path: Path) -> None:
    module = tmp_path / "libvendor-pkcs11.so"
    if library == "text":
        module.write_text("not a shared library\n")
    else:
        shutil.copy("/bin/true", module)
    with pytest.raises(OSError) as loading:  # the system loader's own words, as the oracle
        ctypes.CDLL(str(module))
    reason = str(loading.value).removeprefix(f"{module}:").strip()
    assert reason
    config = tmp_path / "signer.toml"
    config.write_text(f'[tokens]\nmodules = ["{module}"]\nuse_catalog = false\n')
    done = signer_cli("tokens", env={**os.environ, "SIGNER_CONFIG": str(config)})
    assert done.returncode == 3, done.stderr
    assert_no_traceback(done)
    vi, en = _halves(done.stderr, Code.MODULE_LOAD_FAILED)
    for half in (vi, en):
        assert half.endswith(f"{module}: {reason}"), (half, reason)
    assert vi.startswith("hệ điều hành không nạp được tệp"), vi


def test_a_configuration_refusal_is_said_in_vietnamese(tmp_path: Path) -> None:
    from policies.revocation import MODES

    config = tmp_path / "signer.toml"
    config.write_text('[revocation]\npolicy = "sometimes"\n')
    done = signer_cli("tokens", env={**os.environ, "SIGNER_CONFIG": str(config)})
    assert done.returncode == 3, done.stderr
    vi, en = _halves(done.stderr, Code.CONFIG_INVALID)
    assert "sometimes" in vi and "sometimes" in en and all(mode in vi for mode in MODES), (vi, en)
    assert _words(vi) & _words(en) <= _words(f"{config} sometimes {' '.join(MODES)}"), (vi, en)

# -- every command's --help, in both languages --

VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.IGNORECASE)
# Commands whose options are still described in English only; the last test fails once one of
# them no longer needs its place here.
PENDING_HELP: set[str] = set()


def _command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand the parser knows, e.g. ("tls", "init")."""
    import argparse

    from signer.cli import build_parser

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = [path]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found += walk(child, (*path, name))
        return found

    return walk(build_parser(), ())


def _option_blocks(help_text: str) -> list[str]:
    """Each argument's lines in ``--help``: its first line (indented 2, or 4 for a subcommand) and
    the wrapped lines below it; the usage and description above the first section are left out."""
    blocks: list[list[str]] = []
    in_section = False
    for line in help_text.splitlines():
        if line and not line[0].isspace():
            in_section = line.endswith(":") and not line.startswith("usage:")
        elif in_section and re.match(r"^( {2}| {4})\S", line):
            blocks.append([line])
        elif in_section and line.strip() and blocks:
            blocks[-1].append(line)
    return [" ".join(part.strip() for part in block) for block in blocks]


def _english_only_options(path: tuple[str, ...]) -> list[str]:
    done = signer_cli(*path, "--help", env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    blocks = _option_blocks(done.stdout)
    assert blocks, done.stdout
    return [block for block in blocks if not (VIETNAMESE.search(block) and " / " in block)]


def test_command_paths_cover_the_subcommands() -> None:
    paths = _command_paths()
    for expected in [("serve",), ("sign",), ("enroll", "request"), ("enroll", "import"), ("pin", "change"),
                     ("pin", "unblock"), ("tls", "init"), ("origins", "grant"), ("browsers", "policies")]:
        assert expected in paths, paths


@pytest.mark.parametrize("path", [p for p in _command_paths() if not (p and p[0] in PENDING_HELP)],
                         ids=lambda path: " ".join(path) or "signer")
def test_every_option_is_described_in_both_languages(path: tuple[str, ...]) -> None:
    assert _english_only_options(path) == []


def test_pending_commands_still_need_their_place() -> None:
    for command in PENDING_HELP:
        assert _english_only_options((command,)) or any(
            _english_only_options(path) for path in _command_paths() if path[:1] == (command,)
        ), f"signer {command} is bilingual now: take it off PENDING_HELP"
