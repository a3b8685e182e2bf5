"""XML signatures (XMLDSig, enveloped) for the VGCA /SignXML and /VerifyXML (edXML exchange).

The token signs only digests, so the signature is assembled here in steps, as for
PDF: ``prepare_xml`` puts the document's digest into SignedInfo and returns the
SHA-256 of SignedInfo's canonical form for the token to sign, ``finish_xml`` puts the
token's answer into SignatureValue. Verification reads every ds:Signature in the
document and checks what can be checked offline: integrity, signature value, chain
to the trust anchors.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from lxml import etree
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathError, ValidationError

from ..certificates import holder_name
from ..errors import Code, SignerError
from .cms import signing_time_now
from .key import SigningKey

DSIG = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
INCLUSIVE_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
XML_NS = "{http://www.w3.org/XML/1998/namespace}"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SIGNED_INFO_DIGEST = "sha256"  # the hash both SIGNATURE_METHODS name
SIGNATURE_METHODS = {
    "rsa": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "ec": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
}

# What verification accepts: other tools (older VGCA clients among them) still use
# SHA-1 and inclusive c14n; our own signatures use only the entries above.
C14N_METHODS = {  # algorithm -> (exclusive, with_comments)
    EXC_C14N: (True, False),
    EXC_C14N + "WithComments": (True, True),
    INCLUSIVE_C14N: (False, False),
    INCLUSIVE_C14N + "#WithComments": (False, True),
}
DIGEST_METHODS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": "sha1",
    SHA256: "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
VERIFY_METHODS = {  # algorithm -> (key algorithm, hash)
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": ("rsa", hashes.SHA1()),
    SIGNATURE_METHODS["rsa"]: ("rsa", hashes.SHA256()),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": ("rsa", hashes.SHA384()),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": ("rsa", hashes.SHA512()),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1": ("ec", hashes.SHA1()),
    SIGNATURE_METHODS["ec"]: ("ec", hashes.SHA256()),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": ("ec", hashes.SHA384()),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": ("ec", hashes.SHA512()),
}


@dataclass
class PreparedXml:
    """A document with its ds:Signature in place but SignatureValue empty, waiting for the token."""

    tree: etree._ElementTree
    signature: etree._Element
    digest: bytes  # for the token to sign: SignedInfo's canonical form, hashed with ``digest_algorithm``
    digest_algorithm: str
    algorithm: str  # the key's: "rsa" or "ec"
    key_bits: int  # ECDSA's r and s are each padded to this size
    signature_only: bool
    signing_time: datetime


@dataclass(frozen=True)
class XmlSignature:
    xml: bytes  # the signed document, or only the ds:Signature element
    signature_value: bytes  # raw, as in SignatureValue (r||s for ECDSA)
    signing_time: datetime


@dataclass(frozen=True)
class XmlSignatureReport:
    signer: str
    signer_subject: str
    certificate_der: bytes
    intact: bool  # every reference digest matches the document
    valid: bool  # SignatureValue checks out over SignedInfo
    trusted: bool  # the signer's chain reaches a configured trust anchor

    @property
    def passed(self) -> bool:
        return self.intact and self.valid and self.trusted


def _ds(name: str) -> str:
    return f"{{{DSIG}}}{name}"


def _parser() -> etree.XMLParser:
    # Nothing is fetched and no entity is expanded; created per call, as lxml
    # parsers must not be shared between threads.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_document(data: bytes) -> etree._ElementTree:
    """Parse untrusted XML; any DTD is refused, so neither XXE nor entity expansion can happen."""
    if not data.strip():
        raise SignerError(Code.DOCUMENT_INVALID, "the XML document is empty", vi="văn bản XML rỗng")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise SignerError(Code.DOCUMENT_INVALID, f"not well-formed XML: {str(exc)[:200]}",
                          vi=f"XML sai cú pháp: {str(exc)[:200]}") from None
    tree = root.getroottree()
    # Unresolved entities would still be signed as references the receiver expands
    # differently; a document exchange format has no use for a DTD at all.
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise SignerError(Code.DOCUMENT_INVALID, "XML with a DOCTYPE (DTD or entities) is not accepted",
                          vi="không chấp nhận XML có DOCTYPE (DTD hoặc thực thể)")
    return tree


def _canonical_document(tree: etree._ElementTree, method: str, prefixes: list[str] | None) -> bytes:
    """A same-document reference (URI="") excludes comments, whatever the c14n variant."""
    exclusive, _ = C14N_METHODS[method]
    return etree.tostring(tree, method="c14n", exclusive=exclusive, with_comments=False,
                          inclusive_ns_prefixes=prefixes if exclusive else None)


def _canonical_element(element: etree._Element, method: str, prefixes: list[str] | None) -> bytes:
    exclusive, with_comments = C14N_METHODS[method]
    return etree.tostring(_detached(element, inherit_xml_attributes=not exclusive), method="c14n",
                          exclusive=exclusive, with_comments=with_comments,
                          inclusive_ns_prefixes=prefixes if exclusive else None)


def _detached(element: etree._Element, *, inherit_xml_attributes: bool) -> etree._Element:
    """The element as the root of its own document, with its in-scope context made explicit.

    lxml canonicalizes a subtree in place wrongly when the default namespace is
    declared on an ancestor (children get xmlns=""), and a deep copy drops unused
    ancestor namespaces that inclusive c14n must render. Serializing declares every
    in-scope namespace on the element, so c14n of the re-parsed copy is right.
    """
    copy = etree.fromstring(etree.tostring(element, with_tail=False), _parser())
    if inherit_xml_attributes:  # inclusive c14n carries xml:lang, xml:space... from ancestors
        for ancestor in element.iterancestors():  # nearest first, so the nearest value wins
            for name, value in ancestor.attrib.items():
                if name.startswith(XML_NS) and name not in copy.attrib:
                    copy.set(name, value)
    return copy


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str | None) -> bytes:
    # Base64 in XMLDSig is commonly wrapped at 64 or 76 columns.
    return base64.b64decode("".join((text or "").split()), validate=True)


def prepare_xml(data: bytes, certificate: x509.Certificate, chain: Sequence[x509.Certificate], algorithm: str,
                *, signature_only: bool = False) -> PreparedXml:
    """Append an enveloped ds:Signature as the last child of the document element, all but
    its value. Blocking (parse, canonicalisation, digests): run it off the event loop.

    With ``signature_only`` the result holds just the ds:Signature element; it verifies
    once put back as the last child of the unchanged document's root element.
    """
    tree = parse_document(data)
    signing_time = signing_time_now()
    # The Signature goes in as the last child without surrounding text, so the
    # document before insertion is exactly what the enveloped transform yields.
    document_digest = hashlib.sha256(_canonical_document(tree, EXC_C14N, None)).digest()
    signature = _signature_element(tree.getroot(), (certificate, *chain), algorithm, document_digest)
    signed_info = _child(signature, "SignedInfo")
    return PreparedXml(
        tree=tree,
        signature=signature,
        digest=hashlib.new(SIGNED_INFO_DIGEST, _canonical_element(signed_info, EXC_C14N, None)).digest(),
        digest_algorithm=SIGNED_INFO_DIGEST,
        algorithm=algorithm,
        key_bits=certificate.public_key.bit_size,
        signature_only=signature_only,
        signing_time=signing_time,
    )


def finish_xml(prepared: PreparedXml, signature_value: bytes) -> XmlSignature:
    """Put the token's signature over ``prepared.digest`` into SignatureValue; blocking (serialisation)."""
    value = _ecdsa_raw(signature_value, prepared.key_bits) if prepared.algorithm == "ec" else signature_value
    _child(prepared.signature, "SignatureValue").text = _b64(value)
    if prepared.signature_only:
        xml = etree.tostring(prepared.signature, encoding="UTF-8", xml_declaration=False, with_tail=False)
    else:
        xml = etree.tostring(prepared.tree, encoding="UTF-8", xml_declaration=True)
    return XmlSignature(xml=xml, signature_value=value, signing_time=prepared.signing_time)


async def sign_xml(data: bytes, key: SigningKey, *, signature_only: bool = False) -> XmlSignature:
    """``prepare_xml``, the token's signature, ``finish_xml``: the document work runs off the event loop."""
    prepared = await asyncio.to_thread(prepare_xml, data, key.certificate, key.chain, key.algorithm,
                                       signature_only=signature_only)
    value = await key.sign_digest(prepared.digest, prepared.digest_algorithm)
    return await asyncio.to_thread(finish_xml, prepared, value)


def _signature_element(root: etree._Element, certificates: Sequence[x509.Certificate], algorithm: str,
                       document_digest: bytes) -> etree._Element:
    """ds:Signature with SignedInfo filled in, an empty SignatureValue and the certificates (the signer's first)."""
    signature = etree.SubElement(root, _ds("Signature"), nsmap={"ds": DSIG})
    signed_info = etree.SubElement(signature, _ds("SignedInfo"))
    etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=SIGNATURE_METHODS[algorithm])
    reference = etree.SubElement(signed_info, _ds("Reference"), URI="")
    transforms = etree.SubElement(reference, _ds("Transforms"))
    etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED)
    etree.SubElement(transforms, _ds("Transform"), Algorithm=EXC_C14N)
    etree.SubElement(reference, _ds("DigestMethod"), Algorithm=SHA256)
    etree.SubElement(reference, _ds("DigestValue")).text = _b64(document_digest)
    etree.SubElement(signature, _ds("SignatureValue"))
    x509_data = etree.SubElement(etree.SubElement(signature, _ds("KeyInfo")), _ds("X509Data"))
    for certificate in certificates:
        etree.SubElement(x509_data, _ds("X509Certificate")).text = _b64(certificate.dump())
    return signature


def _ecdsa_raw(der: bytes, bits: int) -> bytes:
    """XMLDSig wants r||s, each padded to the curve size; the token gives DER."""
    r, s = decode_dss_signature(der)
    size = (bits + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


@dataclass(frozen=True)
class _Checked:
    """What can be told of one ds:Signature without the trust anchors."""

    certificates: list[x509.Certificate]  # KeyInfo's, the signer's first; none when unreadable
    intact: bool  # every reference digest matches the document
    valid: bool  # SignatureValue checks out over SignedInfo


async def verify_xml(
    data: bytes, anchors: list[x509.Certificate], intermediates: list[x509.Certificate]
) -> list[XmlSignatureReport]:
    """One report per ds:Signature; raises DOCUMENT_INVALID for a document that cannot be read."""
    checked = await asyncio.to_thread(_check_all, data)  # parsing and c14n of a large document: off the loop
    return [await _report(c, anchors, intermediates) for c in checked]


def _check_all(data: bytes) -> list[_Checked]:
    signatures = list(parse_document(data).iter(_ds("Signature")))
    return [_check(data, index, signature) for index, signature in enumerate(signatures)]


def _check(data: bytes, index: int, signature: etree._Element) -> _Checked:
    try:
        certificates = [x509.Certificate.load(_b64decode(e.text)) for e in signature.iterfind(
            f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509Certificate')}")]
        certificate = certificates[0]
        _ = certificate.subject  # parses the certificate: a broken one fails here, not later
    except (ValueError, IndexError):  # no readable certificate: nothing can be checked
        return _Checked(certificates=[], intact=False, valid=False)
    signed_info = signature.find(_ds("SignedInfo"))
    references = [] if signed_info is None else signed_info.findall(_ds("Reference"))
    return _Checked(
        certificates=certificates,
        intact=bool(references) and all(_reference_intact(data, index, r) for r in references),
        valid=signed_info is not None and _signature_valid(signature, signed_info, certificate),
    )


async def _report(checked: _Checked, anchors: list[x509.Certificate],
                  intermediates: list[x509.Certificate]) -> XmlSignatureReport:
    if not checked.certificates:
        return XmlSignatureReport(signer="", signer_subject="", certificate_der=b"",
                                  intact=False, valid=False, trusted=False)
    certificate = checked.certificates[0]
    return XmlSignatureReport(
        signer=holder_name(certificate),
        signer_subject=certificate.subject.human_friendly,
        certificate_der=certificate.dump(),
        intact=checked.intact,
        valid=checked.valid,
        trusted=await _trusted(certificate, anchors, intermediates + checked.certificates),
    )


def _child(parent: etree._Element, name: str) -> etree._Element:
    found = parent.find(_ds(name))
    if found is None:
        raise ValueError(f"ds:{name} missing")
    return found


def _algorithm(parent: etree._Element, name: str, known: Mapping[str, object]) -> str:
    algorithm = _child(parent, name).get("Algorithm", "")
    if algorithm not in known:
        raise ValueError(f"unsupported {name} {algorithm}")
    return algorithm


def _prefixes(method: etree._Element) -> list[str] | None:
    """The PrefixList of an exclusive c14n InclusiveNamespaces element, if any."""
    listed = method.find(f"{{{EXC_C14N}}}InclusiveNamespaces")
    return None if listed is None else listed.get("PrefixList", "").split()


def _reference_intact(data: bytes, index: int, reference: etree._Element) -> bool:
    try:
        return _reference_digest(data, index, reference) == _b64decode(_child(reference, "DigestValue").text)
    except ValueError:  # unsupported reference, unknown algorithms, missing elements, bad base64
        return False


def _reference_digest(data: bytes, index: int, reference: etree._Element) -> bytes:
    """Only same-document enveloped references (URI="", enveloped then at most a c14n) are supported."""
    if reference.get("URI") != "":
        raise ValueError("only URI=\"\" references are supported")
    transforms = reference.findall(f"{_ds('Transforms')}/{_ds('Transform')}")
    if not transforms or transforms[0].get("Algorithm") != ENVELOPED or len(transforms) > 2:
        raise ValueError("only the enveloped-signature transform, then c14n, is supported")
    # After the enveloped transform the node-set becomes octets by inclusive c14n,
    # unless a canonicalization transform says otherwise.
    method, prefixes = INCLUSIVE_C14N, None
    if len(transforms) == 2:
        method = transforms[1].get("Algorithm", "")
        if method not in C14N_METHODS:
            raise ValueError(f"unsupported transform {method}")
        prefixes = _prefixes(transforms[1])
    digest = DIGEST_METHODS[_algorithm(reference, "DigestMethod", DIGEST_METHODS)]
    # A fresh parse is the document with this one Signature removed, and nothing else.
    tree = parse_document(data)
    signature = list(tree.iter(_ds("Signature")))[index]
    if signature.getparent() is None:
        raise ValueError("a Signature that is the document element envelops nothing")
    _remove_keeping_tail(signature)
    return hashlib.new(digest, _canonical_document(tree, method, prefixes)).digest()


def _remove_keeping_tail(element: etree._Element) -> None:
    """Remove an element but not the text after it (lxml keeps it in ``tail``)."""
    parent = element.getparent()
    if element.tail:
        previous = element.getprevious()
        if previous is None:
            parent.text = (parent.text or "") + element.tail
        else:
            previous.tail = (previous.tail or "") + element.tail
    parent.remove(element)


def _signature_valid(signature: etree._Element, signed_info: etree._Element, certificate: x509.Certificate) -> bool:
    try:
        method = _algorithm(signed_info, "CanonicalizationMethod", C14N_METHODS)
        octets = _canonical_element(signed_info, method, _prefixes(_child(signed_info, "CanonicalizationMethod")))
        key_algorithm, hash_algorithm = VERIFY_METHODS[_algorithm(signed_info, "SignatureMethod", VERIFY_METHODS)]
        value = _b64decode(_child(signature, "SignatureValue").text)
        public_key = cx509.load_der_x509_certificate(certificate.dump()).public_key()
        if key_algorithm == "rsa" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(value, octets, padding.PKCS1v15(), hash_algorithm)
        elif key_algorithm == "ec" and isinstance(public_key, ec.EllipticCurvePublicKey):
            half = len(value) // 2
            der = encode_dss_signature(int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big"))
            public_key.verify(der, octets, ec.ECDSA(hash_algorithm))
        else:  # the method names another key type than the certificate's
            return False
    except (InvalidSignature, ValueError):  # ValueError: unknown algorithms, missing elements, bad base64
        return False
    return True


async def _trusted(certificate: x509.Certificate, anchors: list[x509.Certificate],
                   others: list[x509.Certificate]) -> bool:
    context = ValidationContext(
        trust_roots=anchors, other_certs=others, allow_fetching=False, revocation_mode="soft-fail"
    )
    validator = CertificateValidator(certificate, validation_context=context)
    try:
        await validator.async_validate_usage(set())
    except (PathError, ValidationError):
        return False
    return True
