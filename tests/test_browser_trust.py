"""The local CA in the user's NSS databases, and the managed policy files: the real command line
on real NSS databases (certutil), with HOME in a temporary folder; policy files under a temporary root."""

from __future__ import annotations

import configparser
import json
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import DevEnv, signer_cli

from signer.browsers.firefox import RECORD_FILE
from signer.browsers.nss import NICKNAME
from signer.browsers.policies import FILE_NAME, POLICY_NAMES
from signer.tls import TlsFiles, init_local_tls

MANAGED_DIRS = {
    "chrome": "etc/opt/chrome/policies/managed",
    "chromium": "etc/chromium/policies/managed",
    "edge": "etc/opt/edge/policies/managed",
    "brave": "etc/brave/policies/managed",
}
FIREFOX_DIRS = ("etc/firefox/policies", "etc/firefox-esr/policies")


def certutil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["certutil", *args], capture_output=True, text=True, timeout=30)


def our_entries(db: Path) -> list[str]:
    """The trust flags of each certificate under our nickname in ``db``."""
    done = certutil("-L", "-d", f"sql:{db}")
    assert done.returncode == 0, done.stderr
    return [line.split()[-1] for line in done.stdout.splitlines() if line.startswith(NICKNAME + " ")]


def der_under_nickname(db: Path) -> bytes:
    done = subprocess.run(["certutil", "-L", "-d", f"sql:{db}", "-n", NICKNAME, "-r"], capture_output=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def ca_der(files: TlsFiles) -> bytes:
    done = subprocess.run(["openssl", "x509", "-in", str(files.ca_cert), "-outform", "DER"], capture_output=True,
                          timeout=30)
    return done.stdout


@pytest.fixture
def user(dev_env: DevEnv, tmp_path: Path) -> tuple[Path, dict[str, str], TlsFiles]:
    """A user's home, the environment a command of theirs runs in, and the TLS files it uses."""
    home = tmp_path / "home"
    home.mkdir()
    tls_dir = tmp_path / "tls"
    config = tmp_path / "signer.toml"
    config.write_text(f'[server]\ntls_dir = "{tls_dir}"\nallowed_origins = ["https://qlvb.example.gov.vn"]\n')
    env = {k: v for k, v in dev_env.env().items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), SIGNER_CONFIG=str(config))
    return home, env, TlsFiles.in_dir(tls_dir)


def firefox_profile(home: Path, name: str, *, started: bool) -> Path:
    """A profile as Firefox lists it; ``started``: it has run once, so it has its NSS database."""
    base = home / ".mozilla" / "firefox"
    directory = base / f"abc123.{name}"
    directory.mkdir(parents=True)
    ini = configparser.ConfigParser()
    ini.optionxform = str  # type: ignore[assignment,method-assign]  # Firefox's keys keep their case
    ini_path = base / "profiles.ini"
    if ini_path.exists():
        ini.read(ini_path)
    ini[f"Profile{len(ini.sections())}"] = {"Name": name, "IsRelative": "1", "Path": directory.name}
    with ini_path.open("w") as file:
        ini.write(file)
    if started:
        assert certutil("-N", "-d", f"sql:{directory}", "--empty-password").returncode == 0
    return directory


def test_trust_makes_the_ca_and_the_users_database_then_untrust_removes_it(user) -> None:
    home, env, files = user
    nssdb = home / ".pki" / "nssdb"
    done = signer_cli("tls", "trust", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"CA cục bộ / Local CA -> chromium-family ({nssdb}): đã thêm / added"
    assert files.ca_cert.is_file() and (nssdb / "cert9.db").is_file()
    assert our_entries(nssdb) == ["C,,"]
    assert der_under_nickname(nssdb) == ca_der(files)
    assert stat.S_IMODE(nssdb.stat().st_mode) == 0o700

    again = signer_cli("tls", "trust", env=env)
    assert again.returncode == 0 and "đã có / already trusted" in again.stdout
    assert our_entries(nssdb) == ["C,,"]

    gone = signer_cli("tls", "untrust", env=env)
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.strip() == f"CA cục bộ / Local CA -> chromium-family ({nssdb}): đã gỡ / removed"
    assert our_entries(nssdb) == []
    assert "không có / not there" in signer_cli("tls", "untrust", env=env).stdout


def test_trust_after_renewal_replaces_the_old_ca(user) -> None:
    home, env, files = user
    assert signer_cli("tls", "trust", env=env).returncode == 0
    old = ca_der(files)
    init_local_tls(files.ca_cert.parent)  # what a renewal does: a new CA
    assert ca_der(files) != old
    done = signer_cli("tls", "trust", env=env)
    assert done.returncode == 0 and "đã thêm / added" in done.stdout
    assert our_entries(home / ".pki" / "nssdb") == ["C,,"]
    assert der_under_nickname(home / ".pki" / "nssdb") == ca_der(files)


def test_each_started_firefox_profile_is_trusted_and_untrusted(user) -> None:
    home, env, files = user
    default = firefox_profile(home, "default-release", started=True)
    work = firefox_profile(home, "cong-viec", started=True)
    never_run = firefox_profile(home, "new", started=False)
    done = signer_cli("tls", "trust", env=env)
    assert done.returncode == 0, done.stderr
    assert f"firefox:default-release ({default}): đã thêm / added" in done.stdout
    assert f"firefox:cong-viec ({work}): đã thêm / added" in done.stdout
    assert str(never_run) not in done.stdout and not (never_run / "cert9.db").exists()
    assert our_entries(default) == our_entries(work) == ["C,,"]
    assert der_under_nickname(work) == ca_der(files)

    assert signer_cli("tls", "untrust", env=env).returncode == 0
    assert our_entries(default) == our_entries(work) == our_entries(home / ".pki" / "nssdb") == []


def test_missing_certutil_is_one_clear_line(user) -> None:
    _, env, _ = user
    done = signer_cli("tls", "trust", env={**env, "PATH": "/nonexistent"})
    assert done.returncode != 0
    assert done.stderr.startswith("signer: NOT_SUPPORTED: ") and "libnss3-tools" in done.stderr
    assert "Traceback" not in done.stderr


def test_policies_list_the_configured_and_given_origins_for_each_browser(user, tmp_path: Path) -> None:
    _, env, _ = user
    root = tmp_path / "root"
    done = signer_cli("browsers", "policies", "--write", "--root", str(root),
                      "--allow-origin", "HTTP://Docs.Example.gov.vn:8080", env=env)
    assert done.returncode == 0, done.stderr
    expected = ["http://docs.example.gov.vn:8080", "https://qlvb.example.gov.vn"]
    written = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    # Firefox's shared policies.json and the record of our part of it (tests/test_firefox_policy.py)
    firefox = [f"{folder}/{name}" for folder in FIREFOX_DIRS for name in ("policies.json", RECORD_FILE)]
    assert written == sorted([*(f"{folder}/{FILE_NAME}" for folder in MANAGED_DIRS.values()), *firefox])
    for folder in MANAGED_DIRS.values():
        path = root / folder / FILE_NAME
        assert json.loads(path.read_text()) == {name: expected for name in POLICY_NAMES}
        assert stat.S_IMODE(path.stat().st_mode) == 0o644

    only = signer_cli("browsers", "policies", "--remove", "--browser", "edge", "--root", str(root), env=env)
    assert only.returncode == 0 and only.stdout.strip() == f"Đã gỡ / Removed: {root / MANAGED_DIRS['edge'] / FILE_NAME}"
    removed = signer_cli("browsers", "policies", "--remove", "--root", str(root), env=env)
    assert removed.returncode == 0
    assert [p for p in root.rglob("*") if p.is_file()] == []
    assert (root / MANAGED_DIRS["chrome"]).is_dir()  # the folders may be the browser package's: kept


def test_a_bad_origin_writes_nothing(user, tmp_path: Path) -> None:
    _, env, _ = user
    root = tmp_path / "root"
    done = signer_cli("browsers", "policies", "--write", "--root", str(root), "--allow-origin", "qlvb.example",
                      env=env)
    assert done.returncode != 0 and done.stderr.startswith("signer: CONFIG_INVALID: ")
    assert not root.exists()


def test_browsers_without_an_origin_asks_for_one(user, tmp_path: Path) -> None:
    _, env, _ = user
    config = tmp_path / "empty.toml"
    config.write_text("")
    done = signer_cli("browsers", env={**env, "SIGNER_CONFIG": str(config)})
    assert done.returncode != 0 and done.stderr.startswith("signer: BAD_REQUEST: ") and "--origin" in done.stderr
