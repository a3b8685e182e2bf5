"""GET /v1/health, /v1/tokens, /v1/certificates; POST /v1/verify/pdf."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import asdict

from aiohttp import web

from .. import __version__
from ..errors import Code, SignerError
from ..service import verification
from .appkeys import KEYS, LIMITS, SERVICE, SETTINGS, STARTED, TRUST, caller_of
from .body import read_upload
from .replies import json_reply

KEY_USAGES = {"digital_signature", "non_repudiation", "key_encipherment", "data_encipherment", "key_agreement"}


async def health(request: web.Request) -> web.Response:
    tokens = await asyncio.to_thread(request.app[KEYS].tokens)
    return json_reply({
        "status": "ok",
        "version": __version__,
        "uptime_s": round(time.monotonic() - request.app[STARTED], 1),
        "tokens_present": sum(1 for t in tokens if t.flags.initialized),
    })


async def _consented(request: web.Request) -> None:
    """The official's tokens and identity are for pages the official allowed, not any allowed origin."""
    await request.app[SERVICE].consent_to_identity(caller_of(request))


async def tokens(request: web.Request) -> web.Response:
    await _consented(request)
    found = await asyncio.to_thread(request.app[KEYS].tokens)
    return json_reply([asdict(t) for t in found])


async def certificates(request: web.Request) -> web.Response:
    usage = request.query.get("key_usage")
    if usage is not None and usage not in KEY_USAGES:
        raise SignerError(Code.BAD_REQUEST, f"key_usage must be one of {', '.join(sorted(KEY_USAGES))}",
                          vi=f"key_usage phải là một trong các giá trị {', '.join(sorted(KEY_USAGES))}")
    await _consented(request)
    entries = await request.app[KEYS].certificates()
    return json_reply([e.to_json() for e in entries if usage is None or usage in e.key_usage])


async def verify(request: web.Request) -> web.Response:
    caller = caller_of(request)
    upload = await read_upload(request, caller, request.app[LIMITS].max_body_bytes)
    caller.audit.update(document_sha256=hashlib.sha256(upload.data).hexdigest(), document_size=len(upload.data))
    settings, trust = request.app[SETTINGS], request.app[TRUST]
    reports = await verification.verify_pdf(
        upload.data, trust, request.app[SERVICE].documents, caller=caller.name,
        timeout_s=settings.revocation.policy.timeout_s,
        policy=verification.fetch_policy(settings, trust, request.app[LIMITS]))
    return json_reply({
        "signatures": [{**asdict(r), "passed": r.passed} for r in reports],
        "passed": bool(reports) and all(r.passed for r in reports),
    })
