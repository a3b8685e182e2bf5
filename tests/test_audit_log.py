"""The audit log tells the truth: who called as established (an Origin as sent, ``api-token``,
``cli``, ``absent``), every field shown escaped by ``signer audit``, a hash chain that
``signer audit --check`` follows through rotated files, and writers in several processes.

Lines come from the real code paths (``signer sign`` on the development tokens, the daemon on
loopback, or ``AuditLog`` itself) and are read back with the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import DOCUMENTS, DevEnv, signer_cli
from daemon_harness import RunningDaemon
from http_client import call

from policies.limits import load_limits
from signer.audit import AuditLog, Retention

PAGE = "http://127.0.0.1:5173"
FORGED_TAIL = "\r\x1b[2K\x1b[1A2026-01-01T08:00:00.000+00:00  OK                 cli sign                 cli"
FORGED_PATH = "/v1/x" + FORGED_TAIL
CHECK_FAILED = 10


def config_with_state(dev_env: DevEnv, folder: Path, limits: str = "") -> tuple[Path, Path]:
    """The development config with its state folder (audit log) in ``folder/state``."""
    state = folder / "state"
    config = folder / "signer.toml"
    text = dev_env.signer_config.read_text().replace("[server]\n", f'[server]\nstate_dir = "{state}"\n')
    config.write_text(text + (f"\n[limits]\n{limits}\n" if limits else ""))
    return config, state


def audit(config: Path, dev_env: DevEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return signer_cli("audit", *args, "--config", str(config), env=dev_env.env())


def listed(config: Path, dev_env: DevEnv) -> list[dict]:
    done = audit(config, dev_env, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def sign_with_cli(config: Path, dev_env: DevEnv, folder: Path) -> None:
    source, out = folder / "in.pdf", folder / "out.pdf"
    source.write_bytes((DOCUMENTS / "pdflatex.pdf").read_bytes())
    done = signer_cli("sign", str(source), "-o", str(out), "--config", str(config), env=dev_env.env())
    assert done.returncode == 0, done.stderr


def percent_encoded(path: str) -> str:
    return "".join(c if c.isalnum() or c in "/-.:" else f"%{ord(c):02X}" for c in path)


def test_origins_as_established_and_a_forged_path_shown_escaped(dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = config_with_state(dev_env, tmp_path)
    sign_with_cli(config, dev_env, tmp_path)
    with RunningDaemon(config, tmp_path, allow_origins=(PAGE,)) as daemon:
        assert daemon.settings.server.state_dir == state  # the command and the daemon share the log
        signed = call("POST", f"{daemon.url}/v1/sign/pdf", body=(DOCUMENTS / "pdflatex.pdf").read_bytes(),
                      headers={**daemon.auth, "Content-Type": "application/pdf"})
        assert signed.status == 200, signed.body
        forged = call("GET", daemon.url + percent_encoded(FORGED_PATH), headers={"Sec-Fetch-Mode": "no-cors"})
        assert forged.status == 401, forged.body
        other_host = call("GET", f"{daemon.url}/v1/tokens", headers={**daemon.auth, "Host": "evil.example"})
        assert other_host.status == 421, other_host.body
        foreign = call("GET", f"{daemon.url}/v1/tokens", headers={"Origin": "https://evil.example"})
        assert foreign.status == 403, foreign.body

    entries = listed(config, dev_env)
    assert [(e["origin"], e["operation"], e["result"]) for e in entries] == [
        ("cli", "cli sign", "OK"),
        ("api-token", "POST /v1/sign/pdf", "OK"),
        ("absent", "GET " + FORGED_PATH, "AUTH_REQUIRED"),  # the JSON listing keeps the value, escaped as JSON
        ("api-token", "GET /v1/tokens", "HOST_NOT_ALLOWED"),  # the token was presented, the Host refused
        ("https://evil.example", "GET /v1/tokens", "ORIGIN_NOT_ALLOWED"),
    ]
    raw_json = audit(config, dev_env, "--json").stdout
    assert "\r" not in raw_json and "\x1b" not in raw_json

    human = audit(config, dev_env)
    assert human.returncode == 0, human.stderr
    assert "\r" not in human.stdout and "\x1b" not in human.stdout
    shown = human.stdout.split("\n")
    assert shown[-1] == "" and len(shown) - 1 == len(entries), "one line on screen per audit line"
    lines = shown[:-1]
    assert "GET /v1/x\\x0d\\x1b[2K\\x1b[1A2026-01-01T08:00:00.000+00:00  OK" in lines[2]
    assert lines[2].startswith(entries[2]["time"]) and lines[2].rstrip().endswith("absent")
    for line, entry in zip(lines, entries, strict=True):  # each line: its own time, result, operation, origin
        assert line.startswith(f"{entry['time']}  {entry['result']:<18} ")
        assert f" {entry['origin']}" in line
    for index in (0, 1, 3, 4):
        assert lines[index].split()[2:4] == entries[index]["operation"].split()[:2]
    assert sum(" OK " in line for line in lines) == 3  # the fake one is inside the escaped line only

    check = audit(config, dev_env, "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "intact: 5 dòng / lines" in check.stdout


def write_lines(log: AuditLog, count: int, start: int = 0) -> None:
    for number in range(start, start + count):
        log.record(origin=PAGE, operation=f"POST /v1/sign/pdf {number}", result="OK",
                   certificate_sha256="c" * 64, document_sha256="d" * 64, document_size=1000 + number)


def test_a_removed_or_edited_line_fails_the_check(dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = config_with_state(dev_env, tmp_path)
    log = AuditLog(state / "audit.jsonl")
    write_lines(log, 6)
    intact = audit(config, dev_env, "--check")
    assert intact.returncode == 0 and "intact" in intact.stdout, intact.stdout + intact.stderr
    original = log.path.read_bytes()
    lines = original.split(b"\n")

    log.path.write_bytes(b"\n".join(lines[:3] + lines[4:]))  # the fourth line removed
    removed = audit(config, dev_env, "--check")
    assert removed.returncode == CHECK_FAILED, removed.stdout + removed.stderr
    assert "NOT intact" in removed.stdout and "KHÔNG nguyên vẹn" in removed.stdout
    assert "audit.jsonl dòng / line 4:" in removed.stdout and "removed or edited" in removed.stdout

    edited = original.replace(b"POST /v1/sign/pdf 1", b"POST /v1/sign/pdf 7")  # one byte of the second line
    assert edited != original
    log.path.write_bytes(edited)
    report = json.loads(audit(config, dev_env, "--check", "--json").stdout)
    assert report == {"intact": False, "lines": 3, "unchained": 0,
                      "broken": {"file": "audit.jsonl", "line": 3, "reason": "mismatch"}}

    unlinked = lines[5].replace(b'"prev": "', b'"prev_": "')  # the last line without its link
    log.path.write_bytes(b"\n".join(lines[:5] + [unlinked] + lines[6:]))
    report = json.loads(audit(config, dev_env, "--check", "--json").stdout)
    assert report["broken"] == {"file": "audit.jsonl", "line": 6, "reason": "unchained"}

    log.path.write_bytes(original)
    assert audit(config, dev_env, "--check").returncode == 0


def test_lines_from_before_the_chain_start_it(dev_env: DevEnv, tmp_path: Path) -> None:
    """A log written by an older version (no ``prev``) is kept: the chain links to its last line."""
    config, state = config_with_state(dev_env, tmp_path)
    state.mkdir(mode=0o700)
    old = [{"time": "2026-01-01T08:00:00.000+00:00", "origin": "local", "operation": f"cli sign {n}",
            "result": "OK", "certificate_sha256": None, "document_sha256": None, "document_size": None}
           for n in range(3)]
    (state / "audit.jsonl").write_text("".join(json.dumps(line) + "\n" for line in old))
    write_lines(AuditLog(state / "audit.jsonl"), 2)
    report = json.loads(audit(config, dev_env, "--check", "--json").stdout)
    assert report == {"intact": True, "lines": 5, "unchained": 3, "broken": None}
    assert [e["operation"] for e in listed(config, dev_env)] == [
        "cli sign 0", "cli sign 1", "cli sign 2", "POST /v1/sign/pdf 0", "POST /v1/sign/pdf 1"]

    text = (state / "audit.jsonl").read_text().splitlines()
    (state / "audit.jsonl").write_text("\n".join([text[0], *text[2:]]) + "\n")  # an old line removed
    broken = json.loads(audit(config, dev_env, "--check", "--json").stdout)
    assert broken["broken"] is None, "before the chain began, a removal cannot be seen (documented)"
    (state / "audit.jsonl").write_text("\n".join(text[:2] + text[3:]) + "\n")  # the last old line removed
    assert audit(config, dev_env, "--check").returncode == CHECK_FAILED


def test_rotation_at_the_size_limit_keeps_every_line_listed_and_checked(dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = config_with_state(dev_env, tmp_path)
    limits = load_limits({"audit_max_mb": 2 / 1024, "audit_keep_files": 3})  # 2 KiB, as the policy reads it
    log = AuditLog(state / "audit.jsonl", Retention(limits.audit_max_bytes, limits.audit_keep_files))
    write_lines(log, 12)  # about five lines a file
    files = sorted(p.name for p in state.glob("audit*.jsonl"))
    assert files == ["audit.1.jsonl", "audit.2.jsonl", "audit.jsonl"], files
    assert all(p.stat().st_size <= 2048 for p in state.glob("audit*.jsonl"))
    assert [e["operation"] for e in listed(config, dev_env)] == [f"POST /v1/sign/pdf {n}" for n in range(12)]
    assert audit(config, dev_env, "--check").returncode == 0

    write_lines(log, 40, start=12)  # past what three rotated files hold: the oldest are deleted
    files = sorted(p.name for p in state.glob("audit*.jsonl"))
    assert files == ["audit.1.jsonl", "audit.2.jsonl", "audit.3.jsonl", "audit.jsonl"], files
    operations = [e["operation"] for e in listed(config, dev_env)]
    first = int(operations[0].rsplit(" ", 1)[1])
    assert first > 0 and operations == [f"POST /v1/sign/pdf {n}" for n in range(first, 52)]
    check = audit(config, dev_env, "--check")
    assert check.returncode == 0, check.stdout
    assert [e.operation for e in log.recent(7)] == operations[-7:]  # the tray's recent activity, across files

    oldest = state / "audit.3.jsonl"
    oldest.write_bytes(oldest.read_bytes().split(b"\n", 1)[1])  # the oldest kept line removed
    report = json.loads(audit(config, dev_env, "--check", "--json").stdout)
    assert report["broken"] == {"file": "audit.3.jsonl", "line": 1, "reason": "mismatch"}


def test_signing_commands_rotate_by_the_configured_limits(dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = config_with_state(dev_env, tmp_path, "audit_max_mb = 0.0003\naudit_keep_files = 1")
    for run in range(3):  # about one line per file; one rotated file kept
        sign_with_cli(config, dev_env, tmp_path)
        assert len(listed(config, dev_env)) == min(run + 1, 2)
    assert sorted(p.name for p in state.glob("audit*.jsonl")) == ["audit.1.jsonl", "audit.jsonl"]
    assert [(e["origin"], e["operation"]) for e in listed(config, dev_env)] == [("cli", "cli sign")] * 2
    assert audit(config, dev_env, "--check").returncode == 0


WRITER = """
import sys, time
from pathlib import Path
from signer.audit import AuditLog, Retention
path, name, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
log = AuditLog(path, Retention(16 * 1024, 100))
while not go.exists():  # both writers start together
    time.sleep(0.001)
for number in range(200):
    log.record(origin=name, operation=f"{name} {number}", result="OK")
"""


def test_two_processes_appending_at_once_leave_a_valid_chain(dev_env: DevEnv, tmp_path: Path) -> None:
    config, state = config_with_state(dev_env, tmp_path)
    go = tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(state / "audit.jsonl"), name, str(go)],
                                env=dev_env.env()) for name in ("first", "second")]
    go.touch()
    assert [w.wait(120) for w in writers] == [0, 0]
    entries = listed(config, dev_env)
    assert len(entries) == 400
    for name in ("first", "second"):  # each writer's lines, all there, in its order
        assert [e["operation"] for e in entries if e["origin"] == name] == [f"{name} {n}" for n in range(200)]
    assert len(list(state.glob("audit.*.jsonl"))) >= 1, "the writers rotated the file too"
    report = json.loads(audit(config, dev_env, "--check", "--json").stdout)
    assert report == {"intact": True, "lines": 400, "unchained": 0, "broken": None}
