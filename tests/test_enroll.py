"""``signer enroll`` on a fresh SoftHSM token: a key pair generated on the token, a PKCS#10 request
that openssl verifies, the test CA's certificate loaded next to the key, and a signature with it
that pdfsig finds valid and trusted up to the test root. All through the real CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DOCUMENTS, DevEnv, assert_no_traceback, signer_cli
from pdf_checks import assert_pdfsig_all_valid

from signer.errors import Code, SignerError
from signer.keys.csr import Subject, check_uid

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "Token Dang Ky"
PIN = "24682468"
SO_PIN = "0000000000"
CN = "Nguyễn Thị Thu Hằng"
TITLE = "Trưởng phòng"
ORG = "Ủy ban nhân dân Quận Hoàn Kiếm"


@pytest.fixture
def fresh(dev_env: DevEnv, tmp_path: Path) -> DevEnv:
    """One empty, initialised token in a token folder of its own, and a configuration that uses it
    with the development PKI's trust anchors, responders and timestamp authority."""
    target = tmp_path / "fresh"
    tokens = target / "tokens"
    tokens.mkdir(parents=True)
    conf = target / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
                    "slots.removable = false\n")
    config = target / "signer.toml"
    text = dev_env.signer_config.read_text()
    text = re.sub(r'\[pin\.development\]\n(".*\n)+', f'[pin.development]\n"{TOKEN}" = "{PIN}"\n', text)
    text = text.replace(str(dev_env.dir / "cache"), str(target / "cache"))
    config.write_text(text)
    env = DevEnv(dir=target, softhsm_conf=conf, signer_config=config, root_cert=dev_env.root_cert,
                 interm_cert=dev_env.interm_cert, setup_output="")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", SO_PIN, "--pin", PIN],
                   check=True, capture_output=True, env=env.env())
    return env


def enroll(env: DevEnv, *args: str) -> subprocess.CompletedProcess[str]:
    done = signer_cli("enroll", *args, env=env.env())
    assert_no_traceback(done)
    return done


def request(env: DevEnv, out: Path, *extra: str, label: str = "hang") -> dict:
    done = enroll(env, "request", "--token", TOKEN, "--label", label, "--cn", CN, "--title", TITLE, "--o", ORG,
                  "--ou", "Phòng Nội vụ", "--l", "Quận Hoàn Kiếm", "--st", "Hà Nội", "--email", "hang@hoankiem.gov.vn",
                  "--uid", "CCCD:001190012345", "-o", str(out), "--json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def issue(dev_env: DevEnv, req: Path, out: Path, *, der: bool = False) -> Path:
    """The test PKI's intermediate CA issues a signing certificate for the request (CRL only:
    the responders' CRL lists the revoked ones, so a new serial reads as good)."""
    port = (dev_env.dir / "services.port").read_text().strip()
    extensions = out.with_suffix(".ext")
    extensions.write_text(
        "keyUsage = critical, digitalSignature, nonRepudiation\n"
        f"crlDistributionPoints = URI:http://127.0.0.1:{port}/gov-test/crls/interm/latest.crl\n"
        "authorityKeyIdentifier = keyid\n"
        "subjectKeyIdentifier = hash\n"
    )
    pki = dev_env.dir / "pki"
    subprocess.run(["openssl", "x509", "-req", "-in", str(req), *(["-inform", "DER"] if der else []),
                    "-CA", str(pki / "certs" / "interm.cert.pem"), "-CAkey", str(pki / "keys" / "interm.key.pem"),
                    "-set_serial", str(int.from_bytes(req.name.encode(), "big") % 2**63), "-days", "365",
                    "-extfile", str(extensions), "-out", str(out)], check=True, capture_output=True)
    return out


def private_keys(env: DevEnv) -> list[str]:
    """pkcs11-tool's view of the token's private keys, one block each (an independent reader)."""
    done = subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label", TOKEN, "--login", "--pin", PIN,
                           "--list-objects", "--type", "privkey"], capture_output=True, text=True, env=env.env(),
                          check=True)
    return [block for block in done.stdout.split("Private Key Object")[1:]]


def trusted_nss(dev_env: DevEnv, folder: Path) -> Path:
    """An NSS database trusting only the test root, for pdfsig's certificate validation."""
    folder.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{folder}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{folder}", "-n", "test-root", "-t", "C,C,C",
                    "-i", str(dev_env.root_cert)], check=True, capture_output=True)
    return folder


@pytest.mark.parametrize("key", ["rsa2048", "p256"])
def test_enrol_then_sign_a_pdf_that_chains_to_the_test_root(dev_env: DevEnv, fresh: DevEnv, tmp_path: Path,
                                                            key: str) -> None:
    req = tmp_path / f"{key}.req"
    made = request(fresh, req, "--key", key, *(["--der"] if key == "p256" else []))
    assert made["token"] == TOKEN and made["label"] == "hang" and len(made["key_id"]) == 40

    # openssl checks the request's signature with the public key inside it; the subject is UTF-8
    der = ["-inform", "DER"] if key == "p256" else []
    shown = subprocess.run(["openssl", "req", "-in", str(req), *der, "-verify", "-noout", "-text",
                            "-nameopt", "RFC2253,-esc_msb"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "verify OK" in shown.stdout + shown.stderr
    subject = next(line for line in shown.stdout.splitlines() if "Subject:" in line)
    for part in (f"CN={CN}", f"title={TITLE}", f"O={ORG}", "OU=Phòng Nội vụ", "L=Quận Hoàn Kiếm", "ST=Hà Nội",
                 "C=VN", "UID=CCCD:001190012345", "emailAddress=hang@hoankiem.gov.vn"):
        assert part in subject, subject
    algorithm = "sha256WithRSAEncryption" if key == "rsa2048" else "ecdsa-with-SHA256"
    assert f"Signature Algorithm: {algorithm}" in shown.stdout
    asn1 = subprocess.run(["openssl", "asn1parse", "-in", str(req), *der], capture_output=True, text=True, check=True)
    assert f"UTF8STRING        :{CN}" in asn1.stdout

    # the key was made on the token and cannot leave it
    (block,) = private_keys(fresh)
    access = next(line for line in block.splitlines() if "Access:" in line).split(":", 1)[1]
    flags = {flag.strip() for flag in access.split(",")}
    assert {"sensitive", "always sensitive", "never extractable", "local"} <= flags, flags
    assert "extractable" not in flags
    assert f"ID:         {made['key_id']}" in block

    cert = issue(dev_env, req, tmp_path / f"{key}.cert.pem", der=key == "p256")
    if key == "rsa2048":
        done = enroll(fresh, "import", str(cert), "--chain", str(dev_env.interm_cert), "--json")
    else:  # a PEM bundle as CAs hand them out, the CA's certificate first
        bundle = tmp_path / "bundle.pem"
        bundle.write_text(dev_env.interm_cert.read_text() + cert.read_text())
        done = enroll(fresh, "import", str(bundle), "--json")
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert loaded == {"token": TOKEN, "serial": made["serial"], "label": "hang", "key_id": made["key_id"],
                      "added": True, "chain_added": 1}
    listed = json.loads(signer_cli("certs", "--json", env=fresh.env()).stdout)
    assert [(c["label"], c["key_id"], c["common_name"]) for c in listed] == [("hang", made["key_id"], CN)]

    out = tmp_path / f"signed-{key}.pdf"
    signed = signer_cli("sign", str(DOCUMENTS / "libreoffice.pdf"), "-o", str(out), "--cert", "hang",
                        env=fresh.env())
    assert signed.returncode == 0, signed.stderr
    assert_pdfsig_all_valid(out, 1)
    nss = trusted_nss(dev_env, tmp_path / "nss")
    report = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(out)], capture_output=True,
                            text=True, timeout=60)
    assert "Signature is Valid." in report.stdout and "Certificate is Trusted." in report.stdout, report.stdout
    assert f"Signer Certificate Common Name: {CN}" in report.stdout

    again = enroll(fresh, "import", str(cert), "--json")  # loading it twice adds nothing
    assert json.loads(again.stdout)["added"] is False


def test_a_certificate_for_another_key_is_refused(dev_env: DevEnv, fresh: DevEnv, tmp_path: Path) -> None:
    request(fresh, tmp_path / "req.pem")
    other = dev_env.dir / "pki" / "certs" / "leader.cert.pem"  # a real certificate, for a key not on this token
    done = enroll(fresh, "import", str(other), "--chain", str(dev_env.interm_cert))
    assert done.returncode == SignerError(Code.KEY_NOT_FOUND).exit_code
    assert "KEY_NOT_FOUND" in done.stderr and "Token không có khóa bí mật" in done.stderr
    assert json.loads(signer_cli("certs", "--json", env=fresh.env()).stdout) == []
    listing = subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label", TOKEN, "--list-objects",
                              "--type", "cert"], capture_output=True, text=True, env=fresh.env())
    assert "Certificate Object" not in listing.stdout  # nothing stored, not even the chain


def test_a_label_in_use_is_refused_and_a_bad_uid_never_reaches_the_token(fresh: DevEnv, tmp_path: Path) -> None:
    request(fresh, tmp_path / "first.pem")
    again = enroll(fresh, "request", "--token", TOKEN, "--label", "hang", "--cn", CN, "-o", str(tmp_path / "x.pem"))
    assert again.returncode == SignerError(Code.KEY_EXISTS).exit_code
    assert "KEY_EXISTS" in again.stderr
    bad = enroll(fresh, "request", "--token", TOKEN, "--label", "other", "--cn", CN, "--uid", "CMT:012345678",
                 "-o", str(tmp_path / "y.pem"))
    assert bad.returncode == SignerError(Code.BAD_REQUEST).exit_code
    assert "BAD_REQUEST" in bad.stderr and "CMND:, CCCD:, MST:" in bad.stderr
    assert len(private_keys(fresh)) == 1
    assert not (tmp_path / "x.pem").exists() and not (tmp_path / "y.pem").exists()


def test_a_wrong_pin_is_reported_not_retried(fresh: DevEnv, tmp_path: Path) -> None:
    fresh.signer_config.write_text(fresh.signer_config.read_text().replace(f'= "{PIN}"', '= "99999999"'))
    done = enroll(fresh, "request", "--token", TOKEN, "--label", "hang", "--cn", CN, "-o", str(tmp_path / "r.pem"))
    assert "PIN_INCORRECT" in done.stderr
    # one wrong try only: the token counts it, and the development source then refuses to try again
    again = enroll(fresh, "request", "--token", TOKEN, "--label", "hang", "--cn", CN, "-o", str(tmp_path / "r.pem"))
    assert "PIN_SOURCE_REFUSED" in again.stderr


@pytest.mark.parametrize("uid", ["CMND:012345678", "CMND:001190012345", "CCCD:001190012345", "MST:0101234567",
                                 "MST:0101234567-001"])
def test_identity_number_forms_accepted(uid: str) -> None:
    check_uid(uid)
    assert Subject(common_name=CN, uid=uid).name().native["user_id"] == uid


@pytest.mark.parametrize("uid", ["CCCD:12345", "cccd:001190012345", "CMT:012345678", "001190012345",
                                 "MST:01012345", "CCCD:00119001234a"])
def test_identity_number_forms_refused(uid: str) -> None:
    with pytest.raises(SignerError) as caught:
        check_uid(uid)
    assert caught.value.code is Code.BAD_REQUEST


def test_rsa3072_request(fresh: DevEnv, tmp_path: Path) -> None:
    req = tmp_path / "req.pem"
    made = request(fresh, req, "--key", "rsa3072", "--id", "a1b2c3", label="hang-3072")
    assert made["key_id"] == "a1b2c3"
    shown = subprocess.run(["openssl", "req", "-in", str(req), "-verify", "-noout", "-text"],
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "Public-Key: (3072 bit)" in shown.stdout
    assert "ID:         a1b2c3" in private_keys(fresh)[0]


ALONGSIDE_SIGNING = """
import asyncio, sys
from pathlib import Path
from signer.config import load_settings
from signer.keys import KeyStore
from signer.keys.csr import Subject
from signer.keys.enrolment import request_certificate

with KeyStore(load_settings()) as store:
    key = store.token_key("hang")
    asyncio.run(key.log_in())
    made = request_certificate(store, None, key="p256", label="second", subject=Subject(common_name="Phạm Văn Đức"))
    Path(sys.argv[1]).write_bytes(made.request.dump())
    print(asyncio.run(key.is_logged_in()), len(asyncio.run(key.sign_digest(bytes(32)))))
"""


def test_enrolment_next_to_a_logged_in_signing_session(dev_env: DevEnv, fresh: DevEnv, tmp_path: Path) -> None:
    """In a long-running process the token may be logged in for signing already: enrolment works
    beside that session and leaves it logged in."""
    req = tmp_path / "first.pem"
    request(fresh, req)
    assert enroll(fresh, "import", str(issue(dev_env, req, tmp_path / "first.cert.pem"))).returncode == 0
    second = tmp_path / "second.der"
    done = subprocess.run([sys.executable, "-c", ALONGSIDE_SIGNING, str(second)], capture_output=True, text=True,
                          env=fresh.env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "256"]
    verified = subprocess.run(["openssl", "req", "-inform", "DER", "-in", str(second), "-verify", "-noout"],
                              capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    assert len(private_keys(fresh)) == 2


@pytest.mark.parametrize("fields", [{"common_name": " "}, {"common_name": "A" * 65},
                                    {"common_name": CN, "email": "hang at hoankiem"},
                                    {"common_name": CN, "country": "Việt Nam"}, {"common_name": CN, "country": "vn"}])
def test_subjects_a_ca_would_refuse_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(SignerError) as caught:
        Subject(**fields).name()
    assert caught.value.code is Code.BAD_REQUEST
