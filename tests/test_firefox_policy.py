"""Firefox's policies.json, merged with what an IT department already put there: the real command
line on real files under a temporary root, and ``signer browsers`` reading them back.

Firefox itself is not run here (see docs/local-network-access.md): these tests hold the file
to the format of Mozilla's policy templates and to Firefox's matching of skip-domains entries.
"""

from __future__ import annotations

import configparser
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import signer_cli

from signer.browsers.firefox import PREF, RECORD_FILE

FIREFOX = "etc/firefox/policies/policies.json"
FIREFOX_ESR = "etc/firefox-esr/policies/policies.json"

# what an IT department may already have: other policies, other preferences, its own exemptions
FOREIGN = {
    "policies": {
        "DisableTelemetry": True,
        "Certificates": {"Install": ["/usr/local/share/ca-certificates/corp.crt"]},
        "Preferences": {
            "browser.startup.homepage": {"Value": "https://intranet.example.vn", "Status": "locked"},
            PREF: {"Value": "printer.local, *.intranet.example.vn", "Status": "default"},
        },
    },
    "Comment": "managed by the provincial IT office",
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A user's environment whose configuration allows two https origins and an http one."""
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "signer.toml"
    config.write_text(f'[server]\ntls_dir = "{tmp_path / "tls"}"\nallowed_origins = '
                      '["https://QLVB.example.gov.vn", "https://dieuhanh.example.gov.vn:8443", '
                      '"http://noibo.example.gov.vn"]\n')
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNER_", "XDG_"))}
    return {**base, "HOME": str(home), "SIGNER_CONFIG": str(config)}


def policies(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = signer_cli("browsers", "policies", *args, "--browser", "firefox", env=env)
    assert done.returncode == 0, done.stderr
    return done


def test_fresh_files_lock_the_https_hosts_and_go_away_on_removal(env, tmp_path: Path) -> None:
    root = tmp_path / "root"
    written = policies("--write", "--root", str(root), env=env)
    assert written.stdout.splitlines() == [f"Đã ghi / Written: {root / FIREFOX}",
                                           f"Đã ghi / Written: {root / FIREFOX_ESR}"]
    for name in (FIREFOX, FIREFOX_ESR):
        path = root / name
        # host names only (Firefox compares hosts), the http origin left out
        assert json.loads(path.read_text()) == {"policies": {"Preferences": {PREF: {
            "Value": "dieuhanh.example.gov.vn,qlvb.example.gov.vn", "Status": "locked"}}}}
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert (path.parent / RECORD_FILE).is_file()

    removed = policies("--remove", "--root", str(root), env=env)
    assert removed.stdout.splitlines() == [f"Đã gỡ / Removed: {root / FIREFOX}",
                                           f"Đã gỡ / Removed: {root / FIREFOX_ESR}"]
    assert [p for p in root.rglob("*") if p.is_file()] == []
    assert (root / "etc/firefox/policies").is_dir()  # the folders may be the browser package's: kept
    assert policies("--remove", "--root", str(root), env=env).stdout == ""


def test_a_foreign_policy_file_is_merged_and_restored(env, tmp_path: Path) -> None:
    root = tmp_path / "root"
    path = root / FIREFOX
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(FOREIGN))
    path.chmod(0o640)

    policies("--write", "--root", str(root), env=env)
    merged = json.loads(path.read_text())
    expected = json.loads(json.dumps(FOREIGN))
    expected["policies"]["Preferences"][PREF]["Value"] = \
        "printer.local, *.intranet.example.vn,dieuhanh.example.gov.vn,qlvb.example.gov.vn"
    assert merged == expected  # only our hosts added; the administrator's status kept
    assert list(merged["policies"]) == list(FOREIGN["policies"])  # and the order of the file
    assert stat.S_IMODE(path.stat().st_mode) == 0o640

    # written again with other origins: what we added before is replaced, not added to
    policies("--write", "--root", str(root), "--allow-origin", "https://mot-cua.example.gov.vn", env=env)
    assert json.loads(path.read_text())["policies"]["Preferences"][PREF]["Value"] == \
        "printer.local, *.intranet.example.vn,dieuhanh.example.gov.vn,mot-cua.example.gov.vn,qlvb.example.gov.vn"

    removed = policies("--remove", "--root", str(root), env=env)
    assert f"Đã gỡ phần của chúng tôi / Our entries removed: {path}" in removed.stdout.splitlines()
    assert json.loads(path.read_text()) == FOREIGN
    assert not (path.parent / RECORD_FILE).exists()
    assert not (root / FIREFOX_ESR).exists()  # that one was ours alone


def test_a_host_the_administrator_listed_stays_after_removal(env, tmp_path: Path) -> None:
    root = tmp_path / "root"
    path = root / FIREFOX
    path.parent.mkdir(parents=True)
    theirs = {"policies": {"Preferences": {PREF: "qlvb.example.gov.vn"}}}  # the form before Firefox 81
    path.write_text(json.dumps(theirs))
    policies("--write", "--root", str(root), env=env)
    assert json.loads(path.read_text()) == {
        "policies": {"Preferences": {PREF: "qlvb.example.gov.vn,dieuhanh.example.gov.vn"}}}
    policies("--remove", "--root", str(root), env=env)
    assert json.loads(path.read_text()) == theirs


def test_the_local_network_access_policy_gets_our_hosts_instead(env, tmp_path: Path) -> None:
    """Firefox 145's own policy sets the same preference: a second setting would fight it."""
    root = tmp_path / "root"
    path = root / FIREFOX
    path.parent.mkdir(parents=True)
    theirs = {"policies": {"LocalNetworkAccess": {"Enabled": True, "SkipDomains": ["*.corp.example.vn"],
                                                  "Locked": True}}}
    path.write_text(json.dumps(theirs))
    policies("--write", "--root", str(root), env=env)
    assert json.loads(path.read_text()) == {"policies": {"LocalNetworkAccess": {
        "Enabled": True, "SkipDomains": ["*.corp.example.vn", "dieuhanh.example.gov.vn", "qlvb.example.gov.vn"],
        "Locked": True}}}
    policies("--remove", "--root", str(root), env=env)
    assert json.loads(path.read_text()) == theirs


def test_an_unreadable_policy_file_is_left_alone(env, tmp_path: Path) -> None:
    root = tmp_path / "root"
    path = root / FIREFOX
    path.parent.mkdir(parents=True)
    broken = '{"policies": {"DisableTelemetry": true,}}'
    path.write_text(broken)
    done = signer_cli("browsers", "policies", "--write", "--root", str(root), env=env)
    assert done.returncode != 0 and done.stderr.startswith("signer: CONFIG_INVALID: ")
    assert str(path) in done.stderr and "Traceback" not in done.stderr
    assert path.read_text() == broken and not (path.parent / RECORD_FILE).exists()


def started_firefox_profile(home: Path) -> None:
    directory = home / ".mozilla" / "firefox" / "abc123.default-esr"
    directory.mkdir(parents=True)
    ini = configparser.ConfigParser()
    ini.optionxform = str  # type: ignore[assignment,method-assign]  # Firefox's keys keep their case
    ini["Profile0"] = {"Name": "default-esr", "IsRelative": "1", "Path": directory.name}
    with (directory.parent / "profiles.ini").open("w") as file:
        ini.write(file)
    done = subprocess.run(["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_signer_browsers_reads_firefoxs_policy_file(env, tmp_path: Path) -> None:
    # Firefox ESR as the report sees an installed one: an executable of that name on PATH
    # (the report never runs it); the user's profile has run once and trusts the local CA
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "firefox-esr").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "firefox-esr").chmod(0o755)
    env = {**env, "PATH": f"{bin_dir}:{env['PATH']}"}
    started_firefox_profile(Path(env["HOME"]))
    assert signer_cli("tls", "trust", env=env).returncode == 0
    root = tmp_path / "root"

    def verdict(origin: str) -> dict:
        done = signer_cli("browsers", "--origin", origin, "--root", str(root), "--json", env=env)
        assert done.returncode == 0, done.stderr
        return next(v for v in json.loads(done.stdout)[origin] if v["browser"] == "firefox-esr")

    before = verdict("https://qlvb.example.gov.vn")
    assert (before["executable"], before["certificate_trusted"], before["policy_files"], before["reaches_daemon"]) \
        == (str(bin_dir / "firefox-esr"), True, [], None)  # Firefox asks the user
    assert before["reasons_en"] == [f"{root / FIREFOX_ESR} does not exempt qlvb.example.gov.vn from local network "
                                    f"access checks ({PREF}): Firefox asks the user when the page calls 127.0.0.1"]

    policies("--write", "--root", str(root), env=env)
    after = verdict("https://qlvb.example.gov.vn")
    assert (after["policy_files"], after["reaches_daemon"], after["reasons_en"]) == \
        ([str(root / FIREFOX_ESR)], True, [])
    other = verdict("https://khac.example.vn")  # a host the file does not list
    assert (other["policy_files"], other["reaches_daemon"]) == ([], None)

    # an administrator's wildcard counts as Firefox counts it: the suffix and the name itself
    (root / FIREFOX_ESR).write_text(json.dumps({"policies": {"Preferences": {PREF: {"Value": "*.example.vn"}}}}))
    assert verdict("https://khac.example.vn")["policy_files"] == [str(root / FIREFOX_ESR)]
    assert verdict("https://example.vn")["policy_files"] == [str(root / FIREFOX_ESR)]
    assert verdict("https://example.vn.evil.test")["policy_files"] == []
    # both places that set the preference must list the host: Firefox applies one of them last
    (root / FIREFOX_ESR).write_text(json.dumps({"policies": {
        "Preferences": {PREF: {"Value": "khac.example.vn"}}, "LocalNetworkAccess": {"SkipDomains": ["other.vn"]}}}))
    assert verdict("https://khac.example.vn")["policy_files"] == []
