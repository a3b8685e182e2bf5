"""POST /v1/sign/pdf, /v1/sign/cms and /v1/sign/hash."""

from __future__ import annotations

import base64
import binascii
import hashlib
from urllib.parse import quote

from aiohttp import web

from ..errors import Code, SignerError
from ..service.options import from_fields
from ..service.placing import spot_facts
from ..service.repaired import NOTE_EN, NOTE_VI
from .appkeys import LIMITS, SERVICE, caller_of
from .body import drop_pin_fields, read_upload
from .replies import json_reply


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


async def sign_pdf(request: web.Request) -> web.Response:
    caller = caller_of(request)
    upload = await read_upload(request, caller, request.app[LIMITS].max_body_bytes)
    options, cert = from_fields(upload.options)
    signed = await request.app[SERVICE].sign_pdf(caller, upload.data, options, cert)
    facts = {
        "field": signed.field_name,
        "signer": signed.signer,
        "signing_time": signed.signing_time.isoformat(),
        "input_sha256": signed.input_sha256,
        "output_sha256": hashlib.sha256(signed.data).hexdigest(),
        "level": signed.level,
        "placement": spot_facts(signed.spot),
        "warnings": caller.warnings,
        "repaired": signed.repaired,
    }
    if signed.repaired:
        facts.update(repaired_sha256=signed.repaired_sha256, note=NOTE_EN, note_vi=NOTE_VI)
    if wants_json(request):
        return json_reply({**facts, "pdf": base64.b64encode(signed.data).decode()})
    headers: dict[str, str] = {
        "X-Signature-Field": signed.field_name,
        "X-Signer": quote(signed.signer),  # percent-encoded UTF-8: headers are Latin-1
        "X-Signing-Time": signed.signing_time.isoformat(),
        "X-Document-SHA256": signed.input_sha256,
        "X-Signature-Level": signed.level,
    }
    if caller.warnings:
        headers["X-Signer-Warning"] = ",".join(caller.warnings)
    if signed.repaired_sha256 is not None:
        headers["X-Document-Repaired-SHA256"] = signed.repaired_sha256
    if signed.spot is not None:  # the JSON reply's placement.placed_by: anchor, title, fallback, official, ...
        headers["X-Signature-Placed-By"] = signed.spot.placed_by
    return web.Response(body=signed.data, content_type="application/pdf", headers=headers)


async def sign_cms(request: web.Request) -> web.Response:
    caller = caller_of(request)
    upload = await read_upload(request, caller, request.app[LIMITS].max_body_bytes)
    signature = await request.app[SERVICE].sign_cms(caller, upload.data, upload.options.get("cert"))
    if wants_json(request):
        return json_reply({
            "cms": base64.b64encode(signature.der).decode(),
            "signing_time": signature.signing_time.isoformat(),
            "input_sha256": signature.content_sha256,
            "warnings": caller.warnings,
        })
    return web.Response(body=signature.der, content_type="application/pkcs7-signature",
                        headers={"X-Document-SHA256": signature.content_sha256})


async def sign_hash(request: web.Request) -> web.Response:
    """Sign a digest the page computed: a separate operation with its own consent."""
    caller = caller_of(request)
    body = await _json_object(request)
    drop_pin_fields(body, caller)
    algorithm = str(body.get("algorithm", "SHA256")).lower().replace("-", "")
    try:
        value = base64.b64decode(str(body.get("hash", "")), validate=True)
    except (binascii.Error, ValueError):
        raise SignerError(Code.BAD_REQUEST, "'hash' must be base64", vi="'hash' phải được mã hóa base64") from None
    cert = body.get("cert")
    signature, key = await request.app[SERVICE].sign_hash(caller, value, algorithm,
                                                          str(cert) if cert is not None else None)
    return json_reply({
        "signature": base64.b64encode(signature).decode(),
        "certificate": base64.b64encode(key.certificate.dump()).decode(),
        "algorithm": algorithm,
        "warnings": caller.warnings,
    })


async def _json_object(request: web.Request) -> dict:
    try:
        body = await request.json()
    except (ValueError, RecursionError):
        raise SignerError(Code.BAD_REQUEST, "the body must be a JSON object",
                          vi="nội dung yêu cầu phải là một đối tượng JSON") from None
    if not isinstance(body, dict):
        raise SignerError(Code.BAD_REQUEST, "the body must be a JSON object",
                          vi="nội dung yêu cầu phải là một đối tượng JSON")
    return body
