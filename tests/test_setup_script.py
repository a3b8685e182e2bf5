"""softhsm-setup.sh: tokens, PKI, configuration; idempotent; clear failures."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DOCUMENTS, REPO, DevEnv, free_port, pdfsig, run_setup, signer_cli

from signer.errors import KINDS, Code


def test_writes_configuration_and_prints_exports(dev_env: DevEnv) -> None:
    assert f'export SOFTHSM2_CONF="{dev_env.softhsm_conf}"' in dev_env.setup_output
    assert f'export SIGNER_CONFIG="{dev_env.signer_config}"' in dev_env.setup_output
    config = dev_env.signer_config.read_text()
    assert "development = true" in config
    assert 'source = "development"' in config
    assert str(dev_env.root_cert) in config
    assert f"directories.tokendir = {dev_env.dir}/tokens" in dev_env.softhsm_conf.read_text()
    assert stat.S_IMODE(dev_env.signer_config.stat().st_mode) == 0o600
    # token storage stays under DIR, never in the user's home
    assert any((dev_env.dir / "tokens").iterdir())


def test_test_pki_has_government_shape(dev_env: DevEnv) -> None:
    def subject(name: str) -> str:
        return subprocess.run(
            ["openssl", "x509", "-noout", "-subject", "-issuer", "-nameopt", "utf8,sep_comma_plus",
             "-in", str(dev_env.dir / "pki" / "certs" / f"{name}.cert.pem")],
            capture_output=True, text=True, check=True,
        ).stdout

    assert "CN=Test Root CA chuyên dùng Chính phủ" in subject("root")
    assert "CN=Test CA phục vụ các cơ quan Nhà nước" in subject("interm")
    leader = subject("leader")
    assert "CN=Lê Hồng Sơn" in leader and "issuer=C=VN,O=Ban Cơ yếu Chính phủ,CN=Test CA phục vụ" in leader
    assert "CN=Văn phòng UBND Thành phố Hà Nội" in subject("clerk")


def test_running_again_changes_nothing(dev_env: DevEnv) -> None:
    before = signer_cli("certs", "--json", env=dev_env.env())
    tokens_before = signer_cli("tokens", "--json", env=dev_env.env())
    again = run_setup(dev_env.dir)
    assert again.returncode == 0, again.stderr
    after = signer_cli("certs", "--json", env=dev_env.env())
    tokens_after = signer_cli("tokens", "--json", env=dev_env.env())
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert json.loads(tokens_before.stdout) == json.loads(tokens_after.stdout)
    assert len(json.loads(after.stdout)) == 4


def _path_without(tmp_path: Path, missing: str) -> dict[str, str]:
    """A PATH holding the tools the script needs, except ``missing``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "mkdir", "chmod", "grep", "cat", "rm", "mktemp",
                 "softhsm2-util", "pkcs11-tool", "openssl"):
        found = shutil.which(tool)
        if tool != missing and found:
            os.symlink(found, bin_dir / tool)
    env = dict(os.environ)
    env["PATH"] = str(bin_dir)
    return env


@pytest.mark.parametrize(("tool", "package"), [("softhsm2-util", "softhsm2"), ("pkcs11-tool", "opensc")])
def test_missing_tool_is_explained(tool: str, package: str, tmp_path: Path) -> None:
    done = subprocess.run([shutil.which("bash"), str(REPO / "softhsm-setup.sh"), str(tmp_path / "d")],
                          capture_output=True, text=True, env=_path_without(tmp_path, tool))
    assert done.returncode != 0
    assert f"'{tool}' not found" in done.stderr
    assert f"apt-get install -y {package}" in done.stderr
    assert not (tmp_path / "d" / "signer.toml").exists()


def _fresh_setup(target: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """softhsm-setup.sh on a fresh folder (its responders on a free port); the environment its
    export lines give."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "SIGNER_TEST_CA_PORT": str(free_port())}
    done = run_setup(target, *options, env=env)
    assert done.returncode == 0, done.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines()
                   if line.startswith("export "))
    return done, {**env, **{name: value.strip('"') for name, value in exports.items()}}


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (an exited one waiting to be reaped is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_setup_alone_gives_a_configuration_that_signs(tmp_path: Path) -> None:
    target = tmp_path / "dev"
    done, env = _fresh_setup(target)
    assert set(env) >= {"SOFTHSM2_CONF", "SIGNER_CONFIG"}
    pid = int((target / "services.pid").read_text())
    try:
        assert "Test CA services (CRL, OCSP, TSA) run on" in done.stdout
        again, _ = _fresh_setup(target)
        assert "already run" in again.stdout, "a second run finds the responders running"
        assert int((target / "services.pid").read_text()) == pid
        out = tmp_path / "signed.pdf"
        signed = signer_cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out), env=env)
        assert signed.returncode == 0, signed.stderr
        assert "Signature is Valid." in pdfsig(out)
    finally:
        stopped = run_setup(target, "--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not _running(pid), "--stop leaves no responder behind"
    assert not (target / "services.pid").exists()


def test_no_services_writes_a_configuration_whose_refusal_says_how_to_start_them(tmp_path: Path) -> None:
    target = tmp_path / "dev"
    done, env = _fresh_setup(target, "--no-services")
    assert not (target / "services.pid").exists()
    assert "Test CA services not started" in done.stdout
    refused = signer_cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(tmp_path / "out.pdf"), env=env)
    assert refused.returncode == KINDS[Code.REVOCATION_UNKNOWN].exit_code
    assert refused.stderr.startswith("signer: REVOCATION_UNKNOWN: ")
    vietnamese, english = refused.stderr.split(" / The certificate's revocation status")
    command = f"{REPO / 'softhsm-setup.sh'} {target.resolve()}"
    assert f"hãy khởi động bằng lệnh {command}" in vietnamese
    assert f"start them with {command}" in english
    assert not (tmp_path / "out.pdf").exists()


def test_services_option_is_still_accepted(dev_env: DevEnv) -> None:
    """The session's set-up passed --services; running it so again finds them running."""
    pid = int((dev_env.dir / "services.pid").read_text())
    again = run_setup(dev_env.dir, "--services")
    assert again.returncode == 0, again.stderr
    assert "already run" in again.stdout
    assert int((dev_env.dir / "services.pid").read_text()) == pid
