"""POST /v1/sign/pdf, /v1/sign/cms and /v1/sign/hash."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from urllib.parse import quote

from aiohttp import web

from .replies import json_reply

from ..engine import cms, digest, pdf
from ..errors import SignerError
from .body import drop_pin_fields, read_upload
from .keys import caller_of, daemon_of


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


async def sign_pdf(request: web.Request) -> web.Response:
    daemon, caller = daemon_of(request), caller_of(request)
    upload = await read_upload(request, caller, daemon.limits.max_body_bytes)
    caller.audit.update(document_sha256=hashlib.sha256(upload.data).hexdigest(), document_size=len(upload.data))
    parsed = await asyncio.to_thread(pdf.open_pdf, upload.data)  # refuse bad input before any token access
    if caller.is_browser:
        await daemon.consent.require(caller.origin, "sign")
    key = await daemon.signing_key(upload.options.get("cert"))
    caller.audit["certificate_sha256"] = key.certificate.sha256.hex()
    options = pdf.PdfSignOptions(reason=upload.options.get("reason"), location=upload.options.get("location"))
    async with daemon.queues.slot(key.ref.token_serial):
        await daemon.log_in(caller, key)
        signed = await pdf.sign_pdf(upload.data, key, options, parsed=parsed)
    facts = {
        "field": signed.field_name,
        "signer": signed.signer,
        "signing_time": signed.signing_time.isoformat(),
        "input_sha256": signed.input_sha256,
        "output_sha256": hashlib.sha256(signed.data).hexdigest(),
        "warnings": caller.warnings,
    }
    if wants_json(request):
        return json_reply({**facts, "pdf": base64.b64encode(signed.data).decode()})
    headers = {
        "X-Signature-Field": signed.field_name,
        "X-Signer": quote(signed.signer),  # percent-encoded UTF-8: headers are Latin-1
        "X-Signing-Time": facts["signing_time"],
        "X-Document-SHA256": signed.input_sha256,
    }
    if caller.warnings:
        headers["X-Signer-Warning"] = ",".join(caller.warnings)
    return web.Response(body=signed.data, content_type="application/pdf", headers=headers)


async def sign_cms(request: web.Request) -> web.Response:
    daemon, caller = daemon_of(request), caller_of(request)
    upload = await read_upload(request, caller, daemon.limits.max_body_bytes)
    caller.audit.update(document_sha256=hashlib.sha256(upload.data).hexdigest(), document_size=len(upload.data))
    if caller.is_browser:
        await daemon.consent.require(caller.origin, "sign")
    key = await daemon.signing_key(upload.options.get("cert"))
    caller.audit["certificate_sha256"] = key.certificate.sha256.hex()
    async with daemon.queues.slot(key.ref.token_serial):
        await daemon.log_in(caller, key)
        signature = await cms.sign_cms(upload.data, key)
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
    daemon, caller = daemon_of(request), caller_of(request)
    body = await _json_object(request)
    drop_pin_fields(body, caller)
    algorithm = str(body.get("algorithm", "SHA256")).lower().replace("-", "")
    try:
        value = base64.b64decode(str(body.get("hash", "")), validate=True)
    except (binascii.Error, ValueError):
        raise SignerError("BAD_REQUEST", "'hash' must be base64") from None
    caller.audit.update(document_sha256=value.hex() if algorithm == "sha256" else None, document_size=0)
    if caller.is_browser:
        await daemon.consent.require(caller.origin, "hash")
    cert = body.get("cert")
    key = await daemon.signing_key(str(cert) if cert is not None else None)
    caller.audit["certificate_sha256"] = key.certificate.sha256.hex()
    async with daemon.queues.slot(key.ref.token_serial):
        await daemon.log_in(caller, key)
        signature = await digest.sign_digest(value, key, algorithm)
    return json_reply({
        "signature": base64.b64encode(signature).decode(),
        "certificate": base64.b64encode(key.certificate.dump()).decode(),
        "algorithm": algorithm,
        "warnings": caller.warnings,
    })


async def _json_object(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise SignerError("BAD_REQUEST", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise SignerError("BAD_REQUEST", "the body must be a JSON object")
    return body
