"""Bad input and bad conditions: a clear coded message, a non-zero exit, nothing written."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import CLERK_PIN, DOCUMENTS, LEADER_PIN, DevEnv, assert_no_traceback

ONE_LINE = re.compile(r"^signer: [A-Z_]+: .+ / .+$")


def assert_refused(done, code: str, exit_code: int, out_dir: Path) -> None:
    assert done.returncode == exit_code, (done.returncode, done.stderr)
    assert_no_traceback(done)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and ONE_LINE.match(lines[0]), done.stderr
    assert lines[0].startswith(f"signer: {code}: ")
    assert list(out_dir.iterdir()) == [], "no output or temporary file may be left behind"


@pytest.mark.parametrize(
    ("sample", "code"),
    [
        ("bad-encrypted.pdf", "DOCUMENT_ENCRYPTED"),
        ("bad-truncated.pdf", "DOCUMENT_INVALID"),
        ("bad-not-a-pdf.pdf", "DOCUMENT_INVALID"),
    ],
)
def test_bad_documents(sample: str, code: str, cli, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    done = cli("sign", str(DOCUMENTS / sample), "-o", str(out_dir / "x.pdf"))
    assert_refused(done, code, 4, out_dir)


def test_missing_input_file(cli, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    done = cli("sign", str(tmp_path / "không-có.pdf"), "-o", str(out_dir / "x.pdf"))
    assert_refused(done, "FILE_UNREADABLE", 4, out_dir)


def test_unknown_certificate_label(cli, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out_dir / "x.pdf"), "--cert", "giam-doc")
    assert_refused(done, "CERT_NOT_FOUND", 5, out_dir)
    assert "giam-doc" in done.stderr


def test_missing_token(cli, dev_env: DevEnv, tmp_path: Path) -> None:
    empty = tmp_path / "empty-tokens"
    empty.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {empty}\nobjectstore.backend = file\nlog.level = ERROR\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out_dir / "x.pdf"),
               env=dev_env.env(SOFTHSM2_CONF=str(conf)))
    assert_refused(done, "TOKEN_NOT_PRESENT", 5, out_dir)


def test_wrong_pin_is_reported_once_and_never_retried(cli, private_tokens: DevEnv, tmp_path: Path) -> None:
    config = private_tokens.signer_config
    config.write_text(config.read_text().replace(f'= "{LEADER_PIN}"', '= "99999999"'))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    existing = out_dir / "x.pdf"

    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(existing), "-v", env=private_tokens.env())
    assert_refused(done, "PIN_INCORRECT", 6, out_dir)
    assert "99999999" not in done.stderr + done.stdout
    # SoftHSM now reports a recent wrong PIN: the development source refuses to try again
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(existing), env=private_tokens.env())
    assert_refused(done, "PIN_SOURCE_REFUSED", 6, out_dir)
    listed = cli("tokens", "--json", env=private_tokens.env())
    import json

    leader = next(t for t in json.loads(listed.stdout)["tokens"] if t["label"] == "Token Le Hong Son")
    assert leader["flags"]["pin_count_low"] is True and leader["flags"]["pin_locked"] is False


def test_existing_output_survives_a_failure(cli, tmp_path: Path) -> None:
    out = tmp_path / "keep.pdf"
    out.write_bytes(b"previous result")
    done = cli("sign", str(DOCUMENTS / "bad-truncated.pdf"), "-o", str(out))
    assert done.returncode == 4
    assert out.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.pdf"]


def test_unwritable_output_folder(cli, tmp_path: Path) -> None:
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(tmp_path / "no" / "such" / "x.pdf"))
    assert done.returncode == 4
    assert done.stderr.startswith("signer: OUTPUT_FAILED: ")
    assert_no_traceback(done)


def test_development_pin_source_needs_development_flag(cli, private_tokens: DevEnv, tmp_path: Path) -> None:
    config = private_tokens.signer_config
    config.write_text(config.read_text().replace("development = true", "development = false"))
    done = cli("certs", env=private_tokens.env())
    assert done.returncode == 3
    assert done.stderr.startswith("signer: CONFIG_INVALID: ")
    assert "development = true" in done.stderr


def test_configured_module_missing(cli, private_tokens: DevEnv) -> None:
    config = private_tokens.signer_config
    text = config.read_text()
    module = re.search(r'modules = \["([^"]+)"\]', text).group(1)
    config.write_text(text.replace(module, "/opt/khong-co/libvendor-pkcs11.so"))
    done = cli("tokens", env=private_tokens.env())
    assert done.returncode == 3
    assert done.stderr.startswith("signer: MODULE_NOT_FOUND: ")
    assert "/opt/khong-co/libvendor-pkcs11.so" in done.stderr


def test_config_file_missing_or_broken(cli, dev_env: DevEnv, tmp_path: Path) -> None:
    done = cli("tokens", "--config", str(tmp_path / "none.toml"))
    assert done.returncode == 3 and "CONFIG_INVALID" in done.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[tokens\nmodules = 1")
    done = cli("tokens", "--config", str(broken))
    assert done.returncode == 3 and "CONFIG_INVALID" in done.stderr
    assert_no_traceback(done)


def test_pins_never_reach_output_or_logs(cli, dev_env: DevEnv, tmp_path: Path) -> None:
    out = tmp_path / "signed.pdf"
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out), "-v", "--cert", "clerk")
    assert done.returncode == 0, done.stderr
    for pin in (LEADER_PIN, CLERK_PIN):
        assert pin not in done.stdout and pin not in done.stderr
        assert pin.encode() not in out.read_bytes()


def test_usage_errors_are_not_tracebacks(cli) -> None:
    done = cli("sign")
    assert done.returncode == 2
    assert "usage:" in done.stderr
    assert_no_traceback(done)


def test_development_tokens_untouched_by_these_tests(dev_env: DevEnv) -> None:
    # the damaging tests above worked on copies
    assert shutil.which("softhsm2-util")
    assert f'= "{LEADER_PIN}"' in dev_env.signer_config.read_text()


def test_expired_certificate_signs_nothing(cli, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out_dir / "x.pdf"), "--cert", "expired")
    assert_refused(done, "CERT_EXPIRED", 5, out_dir)
    assert "Nguyễn Văn Ánh" in done.stderr and "2022-01-01" in done.stderr
    done = cli("sign-cms", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out_dir / "x.p7s"), "--cert", "expired")
    assert_refused(done, "CERT_EXPIRED", 5, out_dir)


def test_certificate_without_trust_anchor_signs_nothing(cli, private_tokens: DevEnv, tmp_path: Path) -> None:
    config = private_tokens.signer_config
    text = config.read_text()
    config.write_text(re.sub(r"anchors = \[[^\]]*\]", "anchors = []", text))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out_dir / "x.pdf"), env=private_tokens.env())
    assert_refused(done, "CERT_UNTRUSTED", 5, out_dir)
    other_root = tmp_path / "other-root.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "/dev/null",
                    "-subj", "/CN=Another Root", "-days", "30", "-out", str(other_root)], check=True,
                   capture_output=True)
    config.write_text(re.sub(r"anchors = \[[^\]]*\]", f'anchors = ["{other_root}"]', text))
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out_dir / "x.pdf"), env=private_tokens.env())
    assert_refused(done, "CERT_UNTRUSTED", 5, out_dir)


def test_revoked_certificate_signs_nothing(cli, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out_dir / "x.pdf"), "--cert", "revoked")
    assert_refused(done, "CERT_REVOKED", 5, out_dir)
    assert "Trần Thị Bích" in done.stderr


def test_unknown_revocation_status_refuses_under_hard_fail(cli, test_ca_stopped, private_tokens: DevEnv,
                                                           tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out_dir / "x.pdf"), env=private_tokens.env())
    assert_refused(done, "REVOCATION_UNKNOWN", 5, out_dir)
    config = private_tokens.signer_config
    config.write_text(config.read_text().replace('policy = "hard-fail"', 'policy = "soft-fail"'))
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out_dir / "x.pdf"), env=private_tokens.env())
    assert done.returncode == 0, done.stderr
    done = cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out_dir / "y.pdf"), "--cert", "expired",
               env=private_tokens.env())
    assert done.returncode == 5 and "CERT_EXPIRED" in done.stderr
