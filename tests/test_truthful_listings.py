"""Listings that tell the truth: ``signer certs`` never calls a revoked certificate valid and
``--check`` asks the CA now; ``signer origins grant`` refuses an origin no consent could let in."""

from __future__ import annotations

import argparse
import json
import stat
import tomllib
from pathlib import Path

import pytest
from conftest import REPO, DevEnv, signer_cli
from test_serve_cli import daemon_config

from signer.errors import KINDS, Code, SignerError

PAGE = "https://qlvb.hanoi.gov.vn"
LISTED = "https://qlvb.hanoi.gov.vn:443"


def _blocks(listing: str) -> dict[str, str]:
    """The human listing's lines by certificate label (each block starts unindented)."""
    blocks: dict[str, str] = {}
    label = ""
    for line in listing.splitlines():
        if line and not line.startswith(" "):
            label = line.split()[0]
        blocks[label] = blocks.get(label, "") + line + "\n"
    return blocks


def test_plain_listing_gives_the_validity_period_and_points_to_check(cli) -> None:
    done = cli("certs")
    assert done.returncode == 0, done.stderr
    assert "(valid)" not in done.stdout
    blocks = _blocks(done.stdout)
    assert "(trong thời hạn hiệu lực / in its validity period)" in blocks["revoked"]
    assert "(đã hết hạn / expired)" in blocks["expired"]
    assert "checked now" not in done.stdout
    assert "signer certs --check" in done.stdout
    listed = json.loads(cli("certs", "--json").stdout)
    assert all(entry["check"] is None for entry in listed)


def test_check_shows_the_revoked_certificate_revoked_and_the_leader_valid(cli) -> None:
    done = cli("certs", "--check", "--json")
    assert done.returncode == 0, done.stderr
    checks = {entry["label"]: entry["check"] for entry in json.loads(done.stdout)}
    assert {label: check["status"] for label, check in checks.items()} == {
        "leader": "valid", "clerk": "valid", "revoked": "revoked", "expired": "expired"}
    assert checks["leader"] == {"status": "valid", "code": None, "reason": None, "reason_vi": None}
    assert checks["revoked"]["code"] == "CERT_REVOKED"
    assert checks["revoked"]["reason"].startswith("The certificate has been revoked: Trần Thị Bích: revoked on ")
    assert checks["revoked"]["reason_vi"].startswith("Chứng thư số đã bị thu hồi: ")
    assert checks["expired"]["code"] == "CERT_EXPIRED"
    human = _blocks(cli("certs", "--check").stdout)
    assert "kiểm tra lúc này / checked now: đã bị thu hồi / revoked" in human["revoked"]
    assert "The certificate has been revoked" in human["revoked"]
    assert "kiểm tra lúc này / checked now: hợp lệ / valid" in human["leader"]


def test_check_without_responders_says_unknown_and_how_to_start_them(test_ca_stopped: None,
                                                                     private_tokens: DevEnv) -> None:
    done = signer_cli("certs", "--check", "--json", env=private_tokens.env())
    assert done.returncode == 0, done.stderr
    leader = next(entry["check"] for entry in json.loads(done.stdout) if entry["label"] == "leader")
    assert (leader["status"], leader["code"]) == ("unknown", "REVOCATION_UNKNOWN")
    command = f"{REPO / 'softhsm-setup.sh'} {private_tokens.dir.resolve()}"
    assert leader["reason"].endswith(f"start them with {command}")
    assert leader["reason_vi"].endswith(f"hãy khởi động bằng lệnh {command}")
    config = private_tokens.signer_config
    config.write_text(config.read_text().replace('policy = "hard-fail"', 'policy = "soft-fail"'))
    soft = signer_cli("certs", "--check", "--json", env=private_tokens.env())
    leader = next(entry["check"] for entry in json.loads(soft.stdout) if entry["label"] == "leader")
    assert (leader["status"], leader["code"]) == ("unknown", "REVOCATION_UNKNOWN"), "may sign, not known valid"
    assert "(soft-fail)" in leader["reason"]


@pytest.fixture
def user_config(dev_env: DevEnv, tmp_path: Path) -> Path:
    """The development configuration with its own state folder (consents) under tmp_path,
    private as softhsm-setup.sh writes it."""
    config = daemon_config(dev_env, tmp_path)
    config.chmod(0o600)
    return config


def _consents(config: Path, env: dict[str, str]) -> dict:
    listed = signer_cli("origins", "list", "--json", "--config", str(config), env=env)
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def test_grant_refuses_an_origin_off_the_allowlist_then_allow_adds_it(user_config: Path, dev_env: DevEnv) -> None:
    env = dev_env.env()
    before = user_config.read_text()
    refused = signer_cli("origins", "grant", PAGE, "--config", str(user_config), env=env)
    assert refused.returncode == KINDS[Code.ORIGIN_NOT_ALLOWED].exit_code
    assert refused.stderr.startswith("signer: ORIGIN_NOT_ALLOWED: ")
    vietnamese, english = refused.stderr.split(" / This website is not allowed")
    assert f"[server] allowed_origins trong {user_config}" in vietnamese and "--allow" in vietnamese
    assert f"is not on the allowlist ([server] allowed_origins in {user_config})" in english
    assert f"signer origins grant {LISTED} --allow" in english
    assert user_config.read_text() == before
    assert LISTED not in _consents(user_config, env)["consents"]

    granted = signer_cli("origins", "grant", PAGE, "--allow", "--config", str(user_config), env=env)
    assert granted.returncode == 0, granted.stderr
    assert f"Added to the allowed origins: {LISTED}" in granted.stdout
    after = user_config.read_text()
    old, new = tomllib.loads(before), tomllib.loads(after)
    assert new["server"]["allowed_origins"] == [*old["server"]["allowed_origins"], LISTED]
    new["server"]["allowed_origins"] = old["server"]["allowed_origins"]
    assert new == old, "every other setting kept"
    changed = [line for line in after.splitlines() if line not in before.splitlines()]
    assert changed == [f'allowed_origins = ["http://localhost:3000", "http://127.0.0.1:3000", "{LISTED}"]']
    assert all(line in after.splitlines() for line in before.splitlines() if line.startswith("#")), "comments kept"
    assert stat.S_IMODE(user_config.stat().st_mode) == 0o600, "still private"
    listed = _consents(user_config, env)
    assert LISTED in listed["allowed"] and LISTED in listed["consents"]
    again = signer_cli("origins", "grant", PAGE, "--config", str(user_config), env=env)
    assert again.returncode == 0, again.stderr
    assert user_config.read_text() == after


def test_a_machine_policy_listing_origins_wins_over_allow(user_config: Path, tmp_path: Path) -> None:
    """The policy file lives where only administrators write (/etc): it is given to the settings here."""
    from signer.cli import origins
    from signer.config import load_settings

    policy = tmp_path / "policy.toml"
    policy.write_text('[origins]\nallowed = ["https://quanlyvanban.hanoi.gov.vn"]\n')
    settings = load_settings(user_config, policy_file=policy)
    before = user_config.read_text()
    args = argparse.Namespace(action="grant", origin=PAGE, allow=True, raw=False, cert=None)
    with pytest.raises(SignerError) as refused:
        origins.run(args, settings)
    assert refused.value.code is Code.ORIGIN_NOT_ALLOWED
    assert f"machine policy ({policy}) allows, so --allow cannot add it" in refused.value.message_en
    assert f"chính sách của máy ({policy})" in refused.value.message_vi
    assert user_config.read_text() == before
    assert not (settings.server.state_dir / "consents.json").exists()
