"""VGCA paths over content the page sends in the frame: a digest (SignMsg, VerifyMsg), XML,
JSON, and the login proof (Auth)."""

from __future__ import annotations

import base64
import json
from typing import Any

from ..errors import Code, SignerError
from ..service import verification
from . import status
from .call import Call, base64_field, frame_object

HASHES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}


async def sign_message(call: Call, frame: str) -> dict[str, Any]:
    request = frame_object(frame)
    algorithm = str(request.get("HashAlg") or "SHA256").lower().replace("-", "")
    value = base64_field(request.get("HashValue"), "HashValue")
    signature, key = await call.parts.service.sign_hash(call.caller, value, algorithm, None)
    return status.success(Signature=base64.b64encode(signature).decode(),
                          CertBase64=base64.b64encode(key.certificate.dump()).decode())


async def verify_message(call: Call, frame: str) -> dict[str, Any]:
    """Check a signature over a digest against the given certificate (no token needed)."""
    request = frame_object(frame)
    algorithm = str(request.get("HashAlg") or "SHA256").lower().replace("-", "")
    if algorithm not in HASHES or algorithm == "sha1":
        raise SignerError(Code.BAD_REQUEST, f"unsupported HashAlg {algorithm}", vi=f"không hỗ trợ HashAlg {algorithm}")
    value = base64_field(request.get("HashValue"), "HashValue")
    signature = base64_field(request.get("Signature"), "Signature")
    certificate = base64_field(request.get("CertBase64"), "CertBase64")
    valid, subject = verification.verify_digest_signature(certificate, algorithm, value, signature)
    return status.success(Valid=valid, Signer=subject)


async def sign_xml(call: Call, frame: str) -> dict[str, Any]:
    request = frame_object(frame)
    data = base64_field(request.get("Base64Content"), "Base64Content")
    only = str(request.get("ReturnSignatureOnly") or "false").lower() == "true"
    signed = await call.parts.service.sign_xml(call.caller, data, None, signature_only=only)
    return status.success(Signature=base64.b64encode(signed.xml).decode())


async def verify_xml(call: Call, frame: str) -> list[dict[str, Any]]:
    request = frame_object(frame)
    data = base64_field(request.get("Data"), "Data")
    reports = await verification.verify_xml(data, call.parts.trust)
    return [{  # this path answers a bare array, as the official service does
        "SigInfo": {"SignerCert": {"Subject": r.signer_subject, "CommonName": r.signer,
                                   "CertBase64": base64.b64encode(r.certificate_der).decode()}},
        "ValidationDetails": {"SignerCertStatus": {
            "Status": status.OK if r.passed else 1,
            "Description": "Chữ ký hợp lệ" if r.passed else
            ("Chữ ký không đúng" if not (r.intact and r.valid) else "Chứng thư số không được tin cậy")}},
    } for r in reports]


async def sign_json(call: Call, frame: str) -> dict[str, Any]:
    """A detached CMS over the JSON content's UTF-8 text: bytes the page chose (the raw scope)."""
    request = frame_object(frame)
    content = request.get("JsonContent")
    if content is None:
        raise SignerError(Code.BAD_REQUEST, "JsonContent is required", vi="cần có JsonContent")
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    signature = await call.parts.service.sign_cms(call.caller, text.encode("utf-8"), None)
    return status.success(Signature=base64.b64encode(signature.der).decode())


async def authenticate(call: Call, frame: str) -> dict[str, Any]:
    """Proof of the certificate holder: a CMS signature over the page's challenge and origin."""
    request = frame_object(frame)
    challenge = str(request.get("Challenge") or request.get("Data") or request.get("Nonce") or "")
    if not challenge:
        raise SignerError(Code.BAD_REQUEST, "a Challenge is required", vi="cần có Challenge")
    statement, signature = await call.parts.service.authenticate(call.caller, challenge, None)
    return status.success(Signature=base64.b64encode(signature.der).decode(),
                          SignedData=base64.b64encode(statement).decode())
