"""signer tokens / signer certs on the development tokens."""

from __future__ import annotations

import json

from conftest import assert_no_traceback


def test_tokens_json_lists_development_tokens(cli) -> None:
    done = cli("tokens", "--json")
    assert done.returncode == 0, done.stderr
    tokens = {t["label"]: t for t in json.loads(done.stdout)["tokens"] if t["flags"]["initialized"]}
    assert set(tokens) == {"Token Le Hong Son", "Token VP UBND Ha Noi"}
    leader = tokens["Token Le Hong Son"]
    assert leader["manufacturer"] == "SoftHSM project"
    assert leader["model"] == "SoftHSM v2"
    assert leader["serial"]
    assert set(leader["flags"]) == {
        "login_required", "protected_authentication_path", "pin_count_low",
        "pin_final_try", "pin_locked", "initialized", "so_pin_count_low", "so_pin_final_try", "so_pin_locked",
    }
    assert leader["flags"]["login_required"] is True
    assert leader["flags"]["pin_locked"] is False


def test_certs_json_lists_the_four_labelled_certificates(cli) -> None:
    done = cli("certs", "--json")
    assert done.returncode == 0, done.stderr
    certs = {c["label"]: c for c in json.loads(done.stdout)}
    assert set(certs) == {"leader", "clerk", "expired", "revoked"}
    leader = certs["leader"]
    assert leader["common_name"] == "Lê Hồng Sơn"
    assert "Test CA phục vụ các cơ quan Nhà nước" in leader["issuer"]
    assert leader["key_usage"] == ["digital_signature", "non_repudiation"]
    assert leader["status"] == "valid"
    assert leader["token"]["label"] == "Token Le Hong Son"
    assert len(leader["id"]) == 16 and leader["serial"]
    assert certs["clerk"]["common_name"] == "Văn phòng UBND Thành phố Hà Nội"
    assert certs["clerk"]["token"]["label"] == "Token VP UBND Ha Noi"
    assert certs["expired"]["status"] == "expired"
    assert certs["revoked"]["status"] == "valid"  # revocation is checked by validation, not listing


def test_human_listing_is_readable(cli) -> None:
    done = cli("certs")
    assert done.returncode == 0
    assert "leader" in done.stdout and "Lê Hồng Sơn" in done.stdout
    done = cli("tokens")
    assert "Token Le Hong Son" in done.stdout and "login required" in done.stdout
    assert_no_traceback(done)
