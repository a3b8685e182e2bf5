"""signer sign-cms: detached CAdES-BES verified by openssl cms."""

from __future__ import annotations

import subprocess
from pathlib import Path

from asn1crypto import cms
from conftest import DevEnv


def openssl_verify(signature: Path, content: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature),
         "-content", str(content), "-CAfile", str(ca), "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True, timeout=60,
    )


def test_openssl_accepts_cms_over_its_content(cli, dev_env: DevEnv, tmp_path: Path) -> None:
    content = tmp_path / "công-văn.xml"
    content.write_text("<vanban><so>123/UBND-VP</so><trichyeu>Về việc ký số</trichyeu></vanban>",
                       encoding="utf-8")
    out = tmp_path / "công-văn.p7s"
    done = cli("sign-cms", str(content), "-o", str(out))
    assert done.returncode == 0, done.stderr

    verified = openssl_verify(out, content, dev_env.root_cert)
    assert verified.returncode == 0, verified.stderr
    assert "Verification successful" in verified.stderr

    info = cms.ContentInfo.load(out.read_bytes())
    signed = info["content"]
    assert signed["encap_content_info"]["content"].native is None  # detached
    attrs = {a["type"].dotted for a in signed["signer_infos"][0]["signed_attrs"]}
    assert {
        "1.2.840.113549.1.9.3",  # content-type
        "1.2.840.113549.1.9.4",  # message-digest
        "1.2.840.113549.1.9.5",  # signing-time
        "1.2.840.113549.1.9.16.2.47",  # signing-certificate-v2
    } <= attrs
    assert len(signed["certificates"]) == 3  # leaf, intermediate, root


def test_openssl_rejects_changed_content(cli, dev_env: DevEnv, tmp_path: Path) -> None:
    content = tmp_path / "data.bin"
    content.write_bytes(b"original content")
    out = tmp_path / "data.p7s"
    assert cli("sign-cms", str(content), "-o", str(out)).returncode == 0
    content.write_bytes(b"changed content!")
    assert openssl_verify(out, content, dev_env.root_cert).returncode != 0


def test_openssl_rejects_an_untrusted_root(cli, dev_env: DevEnv, tmp_path: Path) -> None:
    content = tmp_path / "data.bin"
    content.write_bytes(b"some bytes")
    out = tmp_path / "data.p7s"
    assert cli("sign-cms", str(content), "-o", str(out)).returncode == 0
    other_ca = tmp_path / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "/dev/null",
                    "-subj", "/CN=Other CA", "-days", "30", "-out", str(other_ca)],
                   check=True, capture_output=True)
    assert openssl_verify(out, content, other_ca).returncode != 0


def test_container_assembled_from_cached_parts_is_the_asn1crypto_encoding(leader_key) -> None:
    """SignedData is put together from per-key DER pieces; it must be byte for byte what
    asn1crypto encodes from the same values (with and without encapsulated content)."""
    from asn1crypto import algos

    from signer.engine import cms as engine_cms

    attributes = engine_cms.signed_attributes(bytes(range(32)), leader_key.certificate, engine_cms.signing_time_now())
    signature = bytes(range(256))
    for content in (None, b"noi dung " * 40):
        ours = engine_cms.signed_data(leader_key, attributes, signature, content).dump()
        certificate = leader_key.certificate
        encap = {"content_type": "data"} | ({} if content is None else {"content": content})
        reference = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData({
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": encap,
            "certificates": [certificate, *leader_key.chain],
            "signer_infos": [cms.SignerInfo({
                "version": "v1",
                "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                    {"issuer": certificate.issuer, "serial_number": certificate.serial_number})}),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": cms.CMSAttributes.load(attributes.dump()),
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"}),
                "signature": signature,
            })],
        })}).dump()
        assert ours == reference
        parsed = cms.ContentInfo.load(ours)["content"]["signer_infos"][0]
        assert parsed["signature"].native == signature
