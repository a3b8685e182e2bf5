"""The machine policy (/etc/vn-token-signer/policy.toml): its keys win over the user's
configuration, so the user cannot loosen it. The installed package reads the real path
(tests/test_package.py); here the file is given to ``load_settings``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from policies.machine import machine_policy_path
from policies.origins import load_allowlist
from signer.browsers.policies import FILE_NAME, POLICY_NAMES
from signer.cli import build_parser
from signer.config import CONFIG_ENV, load_settings
from signer.daemon import Daemon
from signer.errors import SignerError

CITY = "https://quanlyvanban.hanoi.gov.vn"
POLICY = f"""
[origins]
allowed = ["{CITY}"]

[trust]
anchors = ["anchors/root.pem"]

[revocation]
policy = "hard-fail"
rewrite = []

[timestamp]
url = "http://tsa.example.gov.vn"
"""
USER = """
[server]
allowed_origins = ["https://evil.example", "https://quanlyvanban.hanoi.gov.vn"]

[consent]
unattended = ["https://evil.example"]

[trust]
anchors = ["my-own-root.pem"]

[revocation]
policy = "soft-fail"
offline_grace_hours = 12
[[revocation.rewrite]]
from = "http://ocsp.ca.gov.vn/"
to = "http://127.0.0.1:9/"

[timestamp]
url = "http://tsa.evil.example"
timeout_s = 30
"""


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def test_the_policy_wins_for_every_key_it_sets(tmp_path: Path) -> None:
    policy = write(tmp_path / "etc" / "policy.toml", POLICY)
    user = write(tmp_path / "user" / "signer.toml", USER)
    settings = load_settings(user, policy_file=policy)
    assert settings.policy is not None and settings.policy.path == policy
    assert settings.server.allowed_origins == ("https://quanlyvanban.hanoi.gov.vn:443",)
    assert settings.consent.unattended == (), "an origin outside the policy cannot sign unattended"
    assert settings.trust.anchors == (tmp_path / "etc" / "anchors" / "root.pem",)
    assert settings.revocation.policy.mode == "hard-fail"
    assert settings.revocation.policy.rewrite("http://ocsp.ca.gov.vn/x") == "http://ocsp.ca.gov.vn/x"
    assert settings.timestamp.url == "http://tsa.example.gov.vn"
    # keys the policy leaves out stay the user's
    assert settings.revocation.policy.offline_grace == timedelta(hours=12)
    assert settings.revocation.policy.tsa_timeout_s == 30


def test_a_revocation_policy_owns_the_exceptions_to_checking(tmp_path: Path) -> None:
    """A policy that sets only the mode still drops the user's rewrites and skipped nonces."""
    policy = write(tmp_path / "policy.toml", '[revocation]\npolicy = "hard-fail"\n')
    user = write(tmp_path / "signer.toml", USER.replace(
        "offline_grace_hours = 12", 'offline_grace_hours = 12\nno_nonce = ["http://ocsp.ca.gov.vn/"]'))
    settings = load_settings(user, policy_file=policy)
    assert settings.revocation.policy.rewrite("http://ocsp.ca.gov.vn/x") == "http://ocsp.ca.gov.vn/x"
    assert "http://ocsp.ca.gov.vn/" not in settings.revocation.policy.no_nonce
    assert settings.revocation.policy.offline_grace == timedelta(hours=12), "other keys stay the user's"
    without = load_settings(user, policy_file=write(tmp_path / "none.toml", '[origins]\nallowed = []\n'))
    assert without.revocation.policy.rewrite("http://ocsp.ca.gov.vn/x") == "http://127.0.0.1:9/x", \
        "no [revocation] table: the user's exceptions stand"


def test_without_a_user_config_the_policy_still_applies(tmp_path: Path) -> None:
    settings = load_settings(None, policy_file=write(tmp_path / "policy.toml", POLICY))
    assert settings.server.allowed_origins == ("https://quanlyvanban.hanoi.gov.vn:443",)
    assert settings.timestamp.url == "http://tsa.example.gov.vn"


def test_a_policy_without_origins_leaves_them_to_the_user(tmp_path: Path) -> None:
    policy = write(tmp_path / "policy.toml", '[revocation]\npolicy = "hard-fail"\n')
    settings = load_settings(write(tmp_path / "signer.toml", USER), policy_file=policy)
    assert settings.server.allowed_origins == ("https://evil.example", "https://quanlyvanban.hanoi.gov.vn")
    assert settings.trust.anchors == (tmp_path / "my-own-root.pem",)
    assert settings.revocation.policy.mode == "hard-fail"


def test_no_policy_file_changes_nothing(tmp_path: Path) -> None:
    user = write(tmp_path / "signer.toml", USER)
    assert load_settings(user, policy_file=tmp_path / "absent.toml") == load_settings(user, tmp_path / "none.toml")
    assert load_settings(user, policy_file=tmp_path / "absent.toml").policy is None


@pytest.mark.parametrize("text, named", [
    ('[origins]\nallowed = ["not an origin"]\n', "not a web origin"),
    ("[server]\nport = 1\n", "unknown setting(s) in top level: server"),
    ('[revocation]\ncache_dir = "/tmp"\n', "cache_dir"),
    ('[revocation]\npolicy = "never"\n', "revocation policy must be one of"),
    ("[origins\n", "policy.toml"),
    ("remote = 1\n", "[[remote]] must be an array of tables"),
    ('[[remote]]\nname = "hanoi"\nurl = "http://ky.hanoi.gov.vn"\n', "url must be https://"),
])
def test_a_broken_policy_is_refused(tmp_path: Path, text: str, named: str) -> None:
    policy = write(tmp_path / "policy.toml", text)
    with pytest.raises(SignerError) as caught:
        load_settings(None, policy_file=policy)
    assert caught.value.code == "CONFIG_INVALID"
    assert named in caught.value.detail and str(policy) in caught.value.detail


def test_the_allowlist_is_capped_by_the_policy() -> None:
    cap = ["https://quanlyvanban.hanoi.gov.vn:443"]
    assert load_allowlist([CITY], only=cap).listed() == cap
    with pytest.raises(ValueError, match="not among the origins the machine policy allows"):
        load_allowlist([CITY, "https://evil.example"], only=cap)


def test_serve_refuses_an_origin_the_policy_does_not_list(tmp_path: Path) -> None:
    settings = load_settings(None, policy_file=write(tmp_path / "policy.toml", POLICY))
    with pytest.raises(SignerError) as caught:
        Daemon(settings, ["https://evil.example"])
    assert caught.value.code == "CONFIG_INVALID" and "https://evil.example" in caught.value.detail


def test_the_policy_path_per_system() -> None:
    assert machine_policy_path() == Path("/etc/vn-token-signer/policy.toml")


def browsers(argv: list[str], settings_policy: Path, user: Path | None) -> int:
    """``signer browsers ...`` as the command line parses and runs it, under the policy at ``settings_policy``
    (the installed package reads the real path: tests/test_package.py)."""
    args = build_parser().parse_args(["browsers", *argv])
    return args.run(args, load_settings(user, policy_file=settings_policy))


def test_the_browser_policies_list_the_machine_policys_origins_only(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """What the package writes: the user's (here root's) own origins are left out."""
    policy, root = write(tmp_path / "policy.toml", POLICY), tmp_path / "root"
    user = write(tmp_path / "signer.toml", USER)
    assert browsers(["policies", "--write", "--machine-policy", "--root", str(root)], policy, user) == 0
    chromium = json.loads((root / "etc/chromium/policies/managed" / FILE_NAME).read_text("utf-8"))
    assert chromium == {name: [CITY] for name in POLICY_NAMES}
    firefox = json.loads((root / "etc/firefox/policies/policies.json").read_text("utf-8"))
    assert firefox["policies"]["Preferences"]["network.lna.skip-domains"]["Value"] == "quanlyvanban.hanoi.gov.vn"

    # a policy that leaves origins to the users: no browser policy at all, the earlier files removed
    open_policy = write(tmp_path / "open.toml", '[revocation]\npolicy = "hard-fail"\n')
    assert browsers(["policies", "--write", "--machine-policy", "--root", str(root)], open_policy, user) == 0
    assert "The machine policy lists no origins" in capsys.readouterr().out
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_without_the_flag_the_policy_still_caps_the_browser_policies(tmp_path: Path) -> None:
    policy, root = write(tmp_path / "policy.toml", POLICY), tmp_path / "root"
    with pytest.raises(SignerError) as caught:
        browsers(["policies", "--write", "--allow-origin", "https://evil.example", "--root", str(root)], policy, None)
    assert caught.value.code == "CONFIG_INVALID" and "https://evil.example" in caught.value.detail
    assert not root.exists()
    with pytest.raises(SystemExit):  # the machine policy's list is the whole list: nothing to add to it
        build_parser().parse_args(["browsers", "policies", "--write", "--machine-policy", "--allow-origin", CITY])


def test_the_policy_remote_services_replace_the_users(tmp_path: Path) -> None:
    """IT staff configure the service for every user; each user keeps their own tokens."""
    user = write(tmp_path / "signer.toml", '[[remote]]\nname = "mine"\nurl = "https://mine.example.gov.vn"\n')
    secret = write(tmp_path / "csc-secret", "s3cret")
    secret.chmod(0o640)  # readable by the users' group, not by others
    policy = write(tmp_path / "policy.toml", '[[remote]]\nname = "hanoi"\nurl = "https://ky.hanoi.gov.vn"\n'
                   'api_version = "v2"\nauth = "client_credentials"\nclient_id = "vn-token-signer"\n'
                   'secret_file = "csc-secret"\n')
    settings = load_settings(user, policy_file=policy)
    assert [(r.name, r.api_version, r.auth, r.client_id, r.secret_file) for r in settings.remote] == [
        ("hanoi", "v2", "client_credentials", "vn-token-signer", secret)]
    assert settings.remote[0].token_file == settings.server.state_dir / "remote-tokens.json"
    secret.chmod(0o644)
    with pytest.raises(SignerError) as caught:
        load_settings(user, policy_file=policy)
    assert caught.value.code == "CONFIG_INVALID" and "other users" in caught.value.detail
    assert str(policy) in caught.value.detail
