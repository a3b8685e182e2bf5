"""Policy is data: profiles retitled, resized and a different list of copy forms in a copy of
the ``policies`` package change what the real command line and daemon do, with no code change.

The copy is put first on PYTHONPATH (and the processes run outside the repository, so the
shipped package is not found first through the working folder); each test checks that the
copy is what was used.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import unicodedata
from pathlib import Path

import aiohttp
from conftest import DOCUMENTS, REPO, DevEnv, signer_cli
from docsys import JWT, SESSION, DocumentSystem, Running
from http_client import call
from pdf_checks import assert_pdfsig_all_valid, embedded_signatures, flattened_text
from test_serve_cli import daemon_config

from policies.profiles import load_profile, profile_names
from signer.engine.placement import find_anchor

APPROVED_TITLE = "Phê duyệt văn bản"
ISSUED_TITLE = "Đóng dấu phát hành"
FORMS = ["SAO LỤC", "SAO Y"]  # another default, and no TRÍCH SAO
LEADER_RECT = (300, 150, 490, 228)  # the leader's block given by hand, far from the title anchor
SOURCE = DOCUMENTS / "libreoffice.pdf"


def policy_copy(folder: Path, **edits: dict[str, str]) -> Path:
    """A copy of the whole ``policies`` package under ``folder``; ``edits`` maps a profile to
    the keys to set (``placement.KEY`` for its placement table), as TOML values."""
    shutil.copytree(REPO / "policies", folder / "policies", ignore=shutil.ignore_patterns("__pycache__"))
    for name, values in edits.items():
        path = folder / "policies" / "profiles" / f"{name}.toml"
        text = path.read_text("utf-8")
        for key, value in values.items():
            text = set_key(text, key, value)
        path.write_text(text, "utf-8")
    return folder


def set_key(text: str, key: str, value: str) -> str:
    """``text`` with the existing line of ``key`` (top level, or ``placement.KEY``) set to ``value``."""
    head, placement = text.split("[placement]")
    bare = key.removeprefix("placement.")
    line = f"{bare} = {value}"
    pattern = re.compile(rf"^{bare} = .*$", re.MULTILINE)
    if key.startswith("placement."):
        placement, count = pattern.subn(lambda _: line, placement)
    else:
        head, count = pattern.subn(lambda _: line, head)
    assert count == 1, key
    return f"{head}[placement]{placement}"


def env_for(dev_env: DevEnv, copy: Path | None) -> dict[str, str]:
    """The shipped policies (``copy`` None) or the copy first, then this repository."""
    return dev_env.env(PYTHONPATH=os.pathsep.join(str(p) for p in (copy, REPO) if p is not None))


def run_cli(dev_env: DevEnv, copy: Path | None, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return signer_cli(*args, env=env_for(dev_env, copy), cwd=cwd)


def sign(dev_env: DevEnv, copy: Path | None, folder: Path, source: Path, out: Path, *args: str) -> Path:
    done = run_cli(dev_env, copy, folder, "sign", str(source), "-o", str(out), *args)
    assert done.returncode == 0, done.stderr
    return out


def leader_then_seal(dev_env: DevEnv, copy: Path | None, folder: Path) -> Path:
    approved = sign(dev_env, copy, folder, SOURCE, folder / "approved.pdf", "--profile", "approved",
                    "--page", "1", "--rect", ",".join(str(v) for v in LEADER_RECT))
    return sign(dev_env, copy, folder, approved, folder / "issued.pdf", "--profile", "issued", "--cert", "clerk",
                "--doc-number", "7/QĐ-UBND", "--issued-date", "2026-02-05")


def rects(path: Path) -> list[tuple[float, ...]]:
    return [tuple(float(v) for v in s.sig_field["/Rect"]) for s in embedded_signatures(path.read_bytes())]


def reasons(path: Path) -> list[str]:
    return [str(s.sig_object["/Reason"]) for s in embedded_signatures(path.read_bytes())]


def page_text(path: Path) -> str:
    return unicodedata.normalize("NFC", flattened_text(path.read_bytes(), 1))


def test_every_seal_profile_sits_over_another_profile() -> None:
    seals = [load_profile(name) for name in profile_names() if load_profile(name).placement.mode == "seal"]
    assert seals, "the shipped profiles have a seal (issued)"
    for seal in seals:
        assert seal.placement.over in profile_names(), seal.name
        assert load_profile(seal.placement.over).placement.mode != "seal", seal.name


def test_the_seal_follows_a_retitled_leader_profile(dev_env: DevEnv, tmp_path: Path) -> None:
    copy = policy_copy(tmp_path / "copy", approved={"title": json.dumps(APPROVED_TITLE)},
                       issued={"title": json.dumps(ISSUED_TITLE)})
    shipped = leader_then_seal(dev_env, None, tmp_path / "shipped")
    retitled = leader_then_seal(dev_env, copy, tmp_path / "retitled")

    assert reasons(shipped) == [load_profile("approved").title, load_profile("issued").title]
    assert reasons(retitled) == [APPROVED_TITLE, ISSUED_TITLE], "the copy's titles are the reasons written"
    for path in (shipped, retitled):
        assert_pdfsig_all_valid(path, 2)
    assert rects(retitled) == rects(shipped), "the same leader's block and seal as with the shipped titles"

    leader, seal = rects(retitled)
    assert leader == LEADER_RECT
    issued = load_profile("issued")
    right = leader[0] + issued.placement.overlap * (leader[2] - leader[0])  # the rule of the seal placement
    assert abs(seal[2] - right) <= 1 and seal[0] < leader[0] < seal[2] < leader[2]
    assert abs((seal[1] + seal[3]) / 2 - (leader[1] + leader[3]) / 2) <= 1
    assert (seal[2] - seal[0], seal[3] - seal[1]) == (issued.width, issued.height)


def test_without_a_leader_field_the_seal_uses_the_leader_profile_size(dev_env: DevEnv, tmp_path: Path) -> None:
    width, height = 250, 90  # not the shipped approved block's size
    copy = policy_copy(tmp_path / "copy", approved={"width": str(width), "height": str(height)})
    out = sign(dev_env, copy, tmp_path / "run", SOURCE, tmp_path / "issued.pdf", "--profile", "issued",
               "--cert", "clerk", "--doc-number", "7/QĐ-UBND")
    assert_pdfsig_all_valid(out, 1)
    issued = load_profile("issued")
    _, line = find_anchor(SOURCE.read_bytes(), issued.placement.anchors)
    # where the copy's approved block would stand: centred below the anchor line, ``gap`` under it
    left, top = (line[0] + line[2]) / 2 - width / 2, line[1] - issued.placement.gap
    (seal,) = rects(out)
    assert abs(seal[2] - (left + issued.placement.overlap * width)) <= 1
    assert abs((seal[1] + seal[3]) / 2 - (top - height / 2)) <= 1


def test_a_seal_over_no_other_profile_is_refused(dev_env: DevEnv, tmp_path: Path) -> None:
    for index, over in enumerate(('"approvd"', '"issued"', '""')):  # unknown, a seal (itself), none
        copy = policy_copy(tmp_path / f"copy-{index}", issued={"placement.over": over})
        out = tmp_path / "issued.pdf"
        done = run_cli(dev_env, copy, tmp_path / "run", "sign", str(SOURCE), "-o", str(out),
                       "--profile", "issued", "--cert", "clerk")
        assert done.returncode == 3, (over, done.stderr)
        assert done.stderr.startswith("signer: CONFIG_INVALID: ") and "over" in done.stderr, done.stderr
        assert not out.exists()


def test_copy_forms_come_from_the_copy_profile(dev_env: DevEnv, tmp_path: Path) -> None:
    copy = policy_copy(tmp_path / "copy", copy={"forms": json.dumps(FORMS, ensure_ascii=False)})
    out = sign(dev_env, copy, tmp_path / "run", SOURCE, tmp_path / "copy.pdf", "--profile", "copy", "--cert", "clerk")
    assert_pdfsig_all_valid(out, 1)
    text = page_text(out)
    assert FORMS[0] in text and "SAO Y" not in text, "the first form is the default"
    refused = run_cli(dev_env, copy, tmp_path / "run", "sign", str(SOURCE), "-o", str(tmp_path / "x.pdf"),
                      "--profile", "copy", "--copy-form", "TRÍCH SAO")
    assert refused.returncode == 2 and "invalid choice" in refused.stderr, refused.stderr
    listed = run_cli(dev_env, copy, tmp_path / "run", "sign", "--help")
    assert "{SAO LỤC,SAO Y}" in listed.stdout


def test_a_broken_copy_profile_is_one_clear_line_not_a_traceback(dev_env: DevEnv, tmp_path: Path) -> None:
    copy = policy_copy(tmp_path / "copy", copy={"forms": "[]"})  # no form left
    done = run_cli(dev_env, copy, tmp_path / "run", "sign", "--help")
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("signer: CONFIG_INVALID: ") and "copy" in done.stderr, done.stderr


def test_the_daemon_reads_titles_and_copy_forms_from_the_policy(dev_env: DevEnv, tmp_path: Path) -> None:
    """``signer serve`` on the copy: the OpenAPI document lists the copy's forms, VGCA pages get
    the copy's default for a form it does not list, and the reason written is the copy's title."""
    copy = policy_copy(tmp_path / "copy", approved={"title": json.dumps(APPROVED_TITLE)},
                       copy={"forms": json.dumps(FORMS, ensure_ascii=False)})
    with Running(DocumentSystem()) as docsys:
        config = daemon_config(dev_env, tmp_path)
        config.write_text(config.read_text().replace("pregranted = [", f'pregranted = ["{docsys.url}", ')
                          .replace("unattended = [", f'unattended = ["{docsys.url}", '))
        (tmp_path / "run").mkdir()
        process = subprocess.Popen(
            [sys.executable, "-m", "signer", "serve", "--config", str(config), "--port", "0", "--tls-port", "0",
             "--allow-origin", docsys.url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(dev_env, copy),
            cwd=tmp_path / "run")
        try:
            line = process.stdout.readline()
            assert "Listening" in line, line + process.stderr.read()
            http_port = int(line.split("http://127.0.0.1:")[1].split()[0])
            https_port = int(line.split("https://127.0.0.1:")[1].split()[0])

            spec = call("GET", f"http://127.0.0.1:{http_port}/v1/openapi.json").json()
            parameter = next(p for p in spec["paths"]["/v1/sign/pdf"]["post"]["parameters"]
                             if p["name"] == "copy_form")
            assert parameter["schema"]["enum"] == FORMS and parameter["schema"]["default"] == FORMS[0]

            def vgca(path: str, **extra: str) -> Path:
                frame = {"FileUploadHandler": f"{docsys.url}/upload?ma=1", "SessionId": SESSION, "JWTToken": JWT,
                         "FileName": f"{docsys.url}/download/libreoffice.pdf?ma=1", **extra}
                reply = asyncio.run(vgca_call(https_port, tmp_path / "tls" / "ca.pem", docsys.url, path, frame))
                assert reply["Status"] == 0, reply
                out = tmp_path / f"{path}-{len(docsys.uploads)}.pdf"
                out.write_bytes(docsys.uploads[-1].data)
                assert_pdfsig_all_valid(out, 1)
                return out

            assert reasons(vgca("SignApproved")) == [APPROVED_TITLE]
            assert "SAO Y" in page_text(vgca("SignCopy", CopyForm="sao y"))
            fallback = page_text(vgca("SignCopy", CopyForm="TRÍCH SAO"))
            assert FORMS[0] in fallback and "TRÍCH SAO" not in fallback, "a form the policy lacks gets its first"
        finally:
            process.terminate()
            process.wait(30)
            process.stdout.close()
            process.stderr.close()


async def vgca_call(port: int, ca: Path, origin: str, path: str, frame: dict) -> dict:
    """One call as vgcaplugin.js makes it: a new socket, one frame, the first reply."""
    context = ssl.create_default_context(cafile=str(ca))
    url = f"wss://127.0.0.1:{port}/{path}"
    async with (aiohttp.ClientSession() as session,
                session.ws_connect(url, ssl=context, headers={"Origin": origin}) as socket):
        await socket.send_str(json.dumps(frame))
        message = await socket.receive(timeout=120)
        return json.loads(message.data)
