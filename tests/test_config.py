"""Reading ``signer.toml``: defaults, paths relative to the file, and refusals with CONFIG_INVALID."""

from __future__ import annotations

from pathlib import Path

import pytest

from signer.config import CONFIG_ENV, Settings, config_path, load_settings
from signer.errors import SignerError


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SIGNER_CONFIG and an empty user config folder, so only what a test writes is read."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return tmp_path / "xdg-config" / "vn-token-signer" / "signer.toml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def refusal(path: Path) -> SignerError:
    with pytest.raises(SignerError) as caught:
        load_settings(path)
    assert caught.value.code == "CONFIG_INVALID"
    assert str(path) in caught.value.detail, "the message names the file"
    return caught.value


def test_no_file_gives_the_defaults(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings.path is None and not settings.development
    assert settings.pin.source == "terminal"
    assert (settings.server.port, settings.server.tls_port) == (8986, 8987)
    assert settings.server.companion_channel == "unix"
    assert settings.server.allowed_origins == () and settings.consent.pregranted == ()
    assert settings.server.tls_dir == tmp_path / "xdg-data" / "vn-token-signer" / "tls"
    assert settings.log_level == "warning"


def test_relative_paths_are_taken_from_the_files_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    folder = tmp_path / "etc"
    path = write(folder / "signer.toml", """
[tokens]
modules = ["lib/vendor.so", "/usr/lib/softhsm/libsofthsm2.so", "../shared/opensc.so"]
[trust]
anchors = ["anchors/root.pem"]
[server]
state_dir = "state"
tls_dir = "~/tls"
[revocation]
cache_dir = "cache"
[appearance.leader]
signature_image = "images/leader.png"
""")
    settings = load_settings(path)
    assert settings.path == path
    assert settings.tokens.modules == (folder / "lib/vendor.so", Path("/usr/lib/softhsm/libsofthsm2.so"),
                                       tmp_path / "shared/opensc.so")
    assert settings.trust.anchors == (folder / "anchors/root.pem",)
    assert settings.server.state_dir == folder / "state"
    assert settings.server.tls_dir == tmp_path / "home/tls"
    assert settings.revocation.cache_dir == folder / "cache"
    assert settings.appearance["leader"].signature_image == folder / "images/leader.png"
    assert settings.appearance["leader"].seal_image is None


@pytest.mark.parametrize(("text", "where", "name"), [
    ("colour = 'red'\n", "top level", "colour"),
    ("[server]\nprot = 8986\n", "[server]", "prot"),
    ("[pin]\nsorce = 'terminal'\n", "[pin]", "sorce"),
    ("[consent]\ntimeout = 5\n", "[consent]", "timeout"),
    ("[appearance.leader]\nstamp = 'x.png'\n", "[appearance.leader]", "stamp"),
], ids=["top", "server", "pin", "consent", "appearance"])
def test_an_unknown_setting_is_refused_naming_its_section(tmp_path: Path, text: str, where: str, name: str) -> None:
    detail = refusal(write(tmp_path / "signer.toml", text)).detail
    assert f"unknown setting(s) in {where}: {name}" in detail


def test_development_pins_need_development_mode(tmp_path: Path) -> None:
    pins = "[pin]\nsource = 'development'\n[pin.development]\nleader = '12345678'\n"
    detail = refusal(write(tmp_path / "refused.toml", pins)).detail
    assert "[pin] source = 'development' is refused unless development = true" in detail
    settings = load_settings(write(tmp_path / "allowed.toml", "development = true\n" + pins))
    assert settings.development and settings.pin.source == "development"
    assert settings.pin.development_pins == {"leader": "12345678"}


def test_an_unknown_pin_source_is_refused(tmp_path: Path) -> None:
    detail = refusal(write(tmp_path / "signer.toml", "[pin]\nsource = 'keyboard'\n")).detail
    assert "'keyboard'" in detail


def test_pregranted_consent_needs_development_mode(tmp_path: Path) -> None:
    consent = "[consent]\npregranted = ['http://127.0.0.1:3000']\n"
    detail = refusal(write(tmp_path / "refused.toml", consent)).detail
    assert "[consent] pregranted is refused unless development = true" in detail
    settings = load_settings(write(tmp_path / "allowed.toml", "development = true\n" + consent))
    assert settings.consent.pregranted == ("http://127.0.0.1:3000",)
    # an empty list grants nothing, so it needs no development mode
    assert load_settings(write(tmp_path / "empty.toml", "[consent]\npregranted = []\n")).consent.pregranted == ()


def test_development_must_be_a_boolean(tmp_path: Path) -> None:
    detail = refusal(write(tmp_path / "signer.toml", "development = 'yes'\n")).detail
    assert "development must be true or false" in detail


@pytest.mark.parametrize("text", [
    "[server\nport = 1\n",
    "[server]\nport = 'eighty'\n",
    "[tokens]\nmodules = 'one.so'\n",
], ids=["not-toml", "not-a-number", "not-a-list"])
def test_malformed_settings_are_refused(tmp_path: Path, text: str) -> None:
    refusal(write(tmp_path / "signer.toml", text))


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signer.toml"
    path.write_bytes("[server]\nallowed_origins = ['https://café.example']\n".encode("latin-1"))
    refusal(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    assert "does not exist" in refusal(tmp_path / "absent.toml").detail


@pytest.mark.parametrize("channel", ["unix", "tcp"])
def test_companion_channel_choices(tmp_path: Path, channel: str) -> None:
    settings = load_settings(write(tmp_path / "signer.toml", f"[server]\ncompanion_channel = '{channel}'\n"))
    assert settings.server.companion_channel == channel


@pytest.mark.parametrize("value", ["'pipe'", "'TCP'", "1"])
def test_other_companion_channels_are_refused(tmp_path: Path, value: str) -> None:
    detail = refusal(write(tmp_path / "signer.toml", f"[server]\ncompanion_channel = {value}\n")).detail
    assert "[server] companion_channel must be" in detail


def test_explicit_path_then_environment_then_user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       no_user_config: Path) -> None:
    explicit = write(tmp_path / "explicit.toml", "[server]\nport = 1001\n")
    from_env = write(tmp_path / "env.toml", "[server]\nport = 1002\n")
    assert config_path(None) is None, "no user file yet"
    write(no_user_config, "[server]\nport = 1003\n")
    assert load_settings().server.port == 1003
    monkeypatch.setenv(CONFIG_ENV, str(from_env))
    assert load_settings().server.port == 1002
    assert load_settings(explicit).server.port == 1001
    monkeypatch.setenv(CONFIG_ENV, "")  # set but empty: as if unset
    assert load_settings().server.port == 1003


def test_a_missing_file_named_by_the_environment_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "absent.toml"))
    with pytest.raises(SignerError) as caught:
        load_settings()
    assert caught.value.code == "CONFIG_INVALID"
