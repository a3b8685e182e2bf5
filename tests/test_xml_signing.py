"""XMLDSig enveloped signatures with the token key, checked by xmlsec1 and by verify_xml."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import pem, x509
from conftest import DevEnv
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lxml import etree

from signer.engine.xml import DSIG, finish_xml, prepare_xml, sign_xml, verify_xml
from signer.errors import SignerError

EDXML = """<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016" xmlns:vn="urn:vn:edxml:ext" xml:lang="vi">
  <Header>
    <From>UBND Thành phố Hà Nội</From>
    <To>Sở Thông tin và Truyền thông</To>
    <Code vn:kind="CV">123/UBND-VP</Code>
    <!-- bản nháp đã duyệt -->
  </Header>
  <Body>
    <Subject>Về việc triển khai chữ ký số</Subject>
    <Content>Đề nghị các đơn vị thực hiện ký số văn bản điện tử.</Content>
  </Body>
</edXML>
""".encode()


def load_pem(path: Path) -> x509.Certificate:
    return x509.Certificate.load(pem.unarmor(path.read_bytes())[2])


def trust(dev_env: DevEnv) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    return [load_pem(dev_env.root_cert)], [load_pem(dev_env.interm_cert)]


def xmlsec_verify(signed: Path, trusted: Path, untrusted: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = ["xmlsec1", "--verify", "--trusted-pem", str(trusted)]
    if untrusted is not None:
        command += ["--untrusted-pem", str(untrusted)]
    return subprocess.run([*command, str(signed)], capture_output=True, text=True, timeout=60)


def throwaway_certificate(tmp_path: Path, algorithm: list[str]) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", *algorithm, "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-utf8", "-subj", "/CN=Phần mềm khác/O=Throwaway"],
        capture_output=True, check=True, timeout=60,
    )
    return key, cert


def test_xmlsec1_verifies_our_signature(leader_key, dev_env: DevEnv, tmp_path: Path) -> None:
    signed = asyncio.run(sign_xml(EDXML, leader_key))
    path = tmp_path / "signed.xml"
    path.write_bytes(signed.xml)

    done = xmlsec_verify(path, dev_env.root_cert, dev_env.interm_cert)
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout + done.stderr

    root = etree.fromstring(signed.xml)
    signature = root[-1]
    assert signature.tag == f"{{{DSIG}}}Signature"
    assert signature.findtext(f"{{{DSIG}}}SignatureValue") == base64.b64encode(signed.signature_value).decode()
    certificates = signature.findall(f".//{{{DSIG}}}X509Certificate")
    assert len(certificates) == 1 + len(leader_key.chain)
    assert signed.signing_time.tzinfo is not None


def test_verify_xml_passes_our_signature(leader_key, dev_env: DevEnv) -> None:
    signed = asyncio.run(sign_xml(EDXML, leader_key))
    [report] = asyncio.run(verify_xml(signed.xml, *trust(dev_env)))
    assert report.passed, report
    assert report.signer == "Lê Hồng Sơn"
    assert report.certificate_der == leader_key.certificate.dump()


def test_the_steps_sign_with_the_token_between_them(leader_key, dev_env: DevEnv, tmp_path: Path) -> None:
    # As a caller holding the token runs them: prepare, the token signs the digest, finish.
    prepared = prepare_xml(EDXML, leader_key.certificate, leader_key.chain, leader_key.algorithm)
    assert prepared.signature.findtext(f"{{{DSIG}}}SignatureValue") in (None, "")  # the token has not signed yet
    value = asyncio.run(leader_key.sign_digest(prepared.digest, prepared.digest_algorithm))
    signed = finish_xml(prepared, value)
    path = tmp_path / "signed.xml"
    path.write_bytes(signed.xml)

    done = xmlsec_verify(path, dev_env.root_cert, dev_env.interm_cert)
    assert done.returncode == 0 and "OK" in done.stdout + done.stderr, done.stderr
    [report] = asyncio.run(verify_xml(signed.xml, *trust(dev_env)))
    assert report.passed, report
    assert signed.signing_time == prepared.signing_time


def test_changed_body_fails_both_verifiers(leader_key, dev_env: DevEnv, tmp_path: Path) -> None:
    signed = asyncio.run(sign_xml(EDXML, leader_key))
    tampered = signed.xml.replace("ký số văn bản".encode(), "ký số văn bạn".encode())
    assert tampered != signed.xml
    path = tmp_path / "tampered.xml"
    path.write_bytes(tampered)

    done = xmlsec_verify(path, dev_env.root_cert, dev_env.interm_cert)
    assert done.returncode != 0
    assert "FAIL" in done.stdout + done.stderr

    [report] = asyncio.run(verify_xml(tampered, *trust(dev_env)))
    assert not report.intact and not report.passed
    assert report.valid  # SignedInfo itself is untouched
    assert report.trusted


def test_xmlsec1_signature_is_valid_but_not_trusted(dev_env: DevEnv, tmp_path: Path) -> None:
    key, cert = throwaway_certificate(tmp_path, ["rsa:2048"])
    template = tmp_path / "template.xml"
    template.write_bytes(EDXML.replace(b"</edXML>", _template(
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    ) + b"</edXML>"))
    signed = _xmlsec_sign(template, key, cert, tmp_path)

    [report] = asyncio.run(verify_xml(signed, *trust(dev_env)))
    assert report.intact and report.valid and not report.trusted
    assert report.signer == "Phần mềm khác"

    [changed] = asyncio.run(verify_xml(signed.replace("Đề nghị".encode(), "Yêu cầu".encode()), *trust(dev_env)))
    assert not changed.intact and changed.valid


def test_xmlsec1_ecdsa_signature_is_valid(dev_env: DevEnv, tmp_path: Path) -> None:
    key, cert = throwaway_certificate(tmp_path, ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
    template = tmp_path / "template.xml"
    template.write_bytes(EDXML.replace(b"</edXML>", _template(
        "http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    ) + b"</edXML>"))
    [report] = asyncio.run(verify_xml(_xmlsec_sign(template, key, cert, tmp_path), *trust(dev_env)))
    assert report.intact and report.valid and not report.trusted


@dataclass
class SoftwareEcKey:
    """Stands in for a token's EC key: signs digests and returns DER, as the token does."""

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    algorithm: str = "ec"

    async def sign_digest(self, digest: bytes, algorithm: str = "sha256") -> bytes:
        return self.private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_xmlsec1_verifies_our_ecdsa_signature(tmp_path: Path) -> None:
    key, cert = throwaway_certificate(tmp_path, ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
    private_key = load_pem_private_key(key.read_bytes(), None)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    signed = asyncio.run(sign_xml(EDXML, SoftwareEcKey(private_key, load_pem(cert))))
    assert len(signed.signature_value) == 64  # r||s, 32 bytes each
    path = tmp_path / "signed.xml"
    path.write_bytes(signed.xml)
    done = xmlsec_verify(path, cert)
    assert done.returncode == 0 and "OK" in done.stdout + done.stderr, done.stderr
    [report] = asyncio.run(verify_xml(signed.xml, [load_pem(cert)], []))
    assert report.passed


def test_signature_only_is_a_standalone_signature(leader_key, dev_env: DevEnv) -> None:
    signed = asyncio.run(sign_xml(EDXML, leader_key, signature_only=True))
    signature = etree.fromstring(signed.xml)
    assert signature.tag == f"{{{DSIG}}}Signature"
    assert not signed.xml.startswith(b"<?xml")
    assert b"edXML" not in signed.xml and b"<From>" not in signed.xml

    # Put back as the last child of the unchanged document, it verifies.
    document = etree.fromstring(EDXML)
    document.append(signature)
    [report] = asyncio.run(verify_xml(etree.tostring(document, encoding="UTF-8"), *trust(dev_env)))
    assert report.passed, report


def test_a_second_enveloped_signature_breaks_the_first(leader_key, key_store, dev_env: DevEnv,
                                                        tmp_path: Path) -> None:
    # The enveloped transform removes only its own Signature: the first signer's
    # digest did not cover the second Signature, so both tools report the first broken.
    first = asyncio.run(sign_xml(EDXML, leader_key))
    second = asyncio.run(sign_xml(first.xml, key_store.token_key("clerk")))
    path = tmp_path / "twice.xml"
    path.write_bytes(second.xml)
    assert xmlsec_verify(path, dev_env.root_cert, dev_env.interm_cert).returncode != 0  # checks the first

    earlier, later = asyncio.run(verify_xml(second.xml, *trust(dev_env)))
    assert not earlier.intact and earlier.valid and earlier.signer == "Lê Hồng Sơn"
    assert later.passed and later.signer != earlier.signer


def test_mangled_signatures_are_reported_not_raised(leader_key, dev_env: DevEnv) -> None:
    signed = asyncio.run(sign_xml(EDXML, leader_key)).xml
    value = etree.fromstring(signed).findtext(f".//{{{DSIG}}}SignatureValue").encode()

    [bad_value] = asyncio.run(verify_xml(signed.replace(value, b"%%%"), *trust(dev_env)))
    assert bad_value.intact and not bad_value.valid and bad_value.trusted

    [other_uri] = asyncio.run(verify_xml(signed.replace(b'URI=""', b'URI="#body"'), *trust(dev_env)))
    assert not other_uri.intact and not other_uri.valid  # the URI is inside SignedInfo too

    no_certificate = etree.fromstring(signed)
    key_info = no_certificate.find(f".//{{{DSIG}}}KeyInfo")
    key_info.getparent().remove(key_info)
    [anonymous] = asyncio.run(verify_xml(etree.tostring(no_certificate), *trust(dev_env)))
    assert anonymous.signer == "" and not (anonymous.intact or anonymous.valid or anonymous.trusted)


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
         b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><x>&c;</x>'),
        b"<edXML><Header><From>UBND</Header></edXML>",
        b"not xml at all",
        b"",
        b"  \n",
    ],
    ids=["xxe", "entity-expansion", "malformed", "text", "empty", "blank"],
)
def test_bad_documents_are_refused(leader_key, dev_env: DevEnv, data: bytes) -> None:
    with pytest.raises(SignerError) as signing:
        asyncio.run(sign_xml(data, leader_key))
    assert signing.value.code == "DOCUMENT_INVALID"
    assert "root:" not in signing.value.detail  # nothing of /etc/passwd leaks into the message
    with pytest.raises(SignerError) as verifying:
        asyncio.run(verify_xml(data, *trust(dev_env)))
    assert verifying.value.code == "DOCUMENT_INVALID"


def _template(c14n: str, method: str) -> bytes:
    return (
        f'<Signature xmlns="{DSIG}"><SignedInfo>'
        f'<CanonicalizationMethod Algorithm="{c14n}"/><SignatureMethod Algorithm="{method}"/>'
        '<Reference URI=""><Transforms>'
        '<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></Transforms>'
        '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue/></Reference>'
        "</SignedInfo><SignatureValue/><KeyInfo><X509Data/></KeyInfo></Signature>"
    ).encode()


def _xmlsec_sign(template: Path, key: Path, cert: Path, tmp_path: Path) -> bytes:
    out = tmp_path / "xmlsec-signed.xml"
    done = subprocess.run(
        ["xmlsec1", "--sign", "--privkey-pem", f"{key},{cert}", "--output", str(out), str(template)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return out.read_bytes()
