"""Shared test set-up: real SoftHSM tokens made by softhsm-setup.sh, the real CLI.

The session's tokens live in a temporary folder; SOFTHSM2_CONF and SIGNER_CONFIG
point at it for in-process tests and for every ``signer`` subprocess.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = REPO / "fixtures" / "documents"
LEADER_PIN = "12345678"
CLERK_PIN = "87654321"

GOOD_SAMPLES = sorted(p.name for p in DOCUMENTS.glob("*.pdf") if not p.name.startswith("bad-"))


@dataclass(frozen=True)
class DevEnv:
    dir: Path
    softhsm_conf: Path
    signer_config: Path
    root_cert: Path
    interm_cert: Path
    setup_output: str

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(SOFTHSM2_CONF=str(self.softhsm_conf), SIGNER_CONFIG=str(self.signer_config))
        env.update(extra)
        return env


def run_setup(target: Path, *options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / "softhsm-setup.sh"), str(target), *options],
        capture_output=True, text=True, env=env or _env_with_venv(), timeout=300,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env_with_venv() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def dev_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevEnv]:
    """Development tokens, with the test CA's OCSP/CRL/TSA responders running on a free port."""
    target = tmp_path_factory.mktemp("dev")
    done = run_setup(target, "--services", env={**_env_with_venv(), "SIGNER_TEST_CA_PORT": str(free_port())})
    assert done.returncode == 0, done.stderr
    env = DevEnv(
        dir=target,
        softhsm_conf=target / "softhsm2.conf",
        signer_config=target / "signer.toml",
        root_cert=target / "pki" / "certs" / "root.cert.pem",
        interm_cert=target / "pki" / "certs" / "interm.cert.pem",
        setup_output=done.stdout,
    )
    saved = {k: os.environ.get(k) for k in ("SOFTHSM2_CONF", "SIGNER_CONFIG")}
    os.environ.update(SOFTHSM2_CONF=str(env.softhsm_conf), SIGNER_CONFIG=str(env.signer_config))
    yield env
    run_setup(target, "--stop")
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def key_store(dev_env: DevEnv):
    from signer.config import load_settings
    from signer.keys import KeyStore

    store = KeyStore(load_settings(dev_env.signer_config))
    yield store
    store.close()


@pytest.fixture(scope="session")
def leader_key(key_store):
    return key_store.token_key("leader")


def signer_cli(*args: str, env: dict[str, str], cwd: Path | None = None, input: str | None = None
               ) -> subprocess.CompletedProcess[str]:
    """Run the installed command line exactly as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "signer", *args],
        capture_output=True, text=True, env=env, cwd=cwd, input=input, timeout=120,
    )


@pytest.fixture
def cli(dev_env: DevEnv):
    def run(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        env = kwargs.pop("env", None) or dev_env.env()
        return signer_cli(*args, env=env, **kwargs)

    return run


@pytest.fixture
def test_ca_stopped(dev_env: DevEnv) -> Iterator[None]:
    """The test CA's responders down for one test, up again after it."""
    run_setup(dev_env.dir, "--stop")
    yield
    done = run_setup(dev_env.dir, "--services")
    assert done.returncode == 0, done.stderr


@pytest.fixture
def private_tokens(dev_env: DevEnv, tmp_path: Path) -> DevEnv:
    """A copy of the development tokens that a test may damage (wrong PINs, extra tokens)."""
    target = tmp_path / "dev-copy"
    shutil.copytree(dev_env.dir, target, ignore=shutil.ignore_patterns("services.pid", "cache"))
    conf = target / "softhsm2.conf"
    conf.write_text(conf.read_text().replace(str(dev_env.dir), str(target)))
    config = target / "signer.toml"
    config.write_text(config.read_text().replace(str(dev_env.dir), str(target)))
    return DevEnv(
        dir=target,
        softhsm_conf=conf,
        signer_config=config,
        root_cert=target / "pki" / "certs" / "root.cert.pem",
        interm_cert=target / "pki" / "certs" / "interm.cert.pem",
        setup_output="",
    )


def pdfsig(path: Path) -> str:
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def assert_no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
