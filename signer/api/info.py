"""GET /v1/health, /v1/tokens, /v1/certificates; POST /v1/verify/pdf."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import asdict

from aiohttp import web

from .replies import json_reply

from .. import __version__, operations
from ..validation.report import averify_pdf
from ..errors import SignerError
from .body import read_upload
from .keys import caller_of, daemon_of

KEY_USAGES = {"digital_signature", "non_repudiation", "key_encipherment", "data_encipherment", "key_agreement"}


async def health(request: web.Request) -> web.Response:
    daemon = daemon_of(request)
    tokens = await asyncio.to_thread(daemon.keys.tokens)
    return json_reply({
        "status": "ok",
        "version": __version__,
        "uptime_s": round(time.monotonic() - daemon.started, 1),
        "tokens_present": sum(1 for t in tokens if t.flags.initialized),
    })


async def _consented(request: web.Request) -> None:
    """The official's tokens and identity are for pages the official allowed, not any allowed origin."""
    await operations.consent_to_identity(daemon_of(request), caller_of(request))


async def tokens(request: web.Request) -> web.Response:
    await _consented(request)
    found = await asyncio.to_thread(daemon_of(request).keys.tokens)
    return json_reply([asdict(t) for t in found])


async def certificates(request: web.Request) -> web.Response:
    usage = request.query.get("key_usage")
    if usage is not None and usage not in KEY_USAGES:
        raise SignerError("BAD_REQUEST", f"key_usage must be one of {', '.join(sorted(KEY_USAGES))}")
    await _consented(request)
    entries = await asyncio.to_thread(daemon_of(request).keys.certificates)
    return json_reply([e.to_json() for e in entries if usage is None or usage in e.key_usage])


async def verify(request: web.Request) -> web.Response:
    daemon, caller = daemon_of(request), caller_of(request)
    upload = await read_upload(request, caller, daemon.limits.max_body_bytes)
    caller.audit.update(document_sha256=hashlib.sha256(upload.data).hexdigest(), document_size=len(upload.data))
    reports = await averify_pdf(upload.data, daemon.keys.anchors, daemon.keys.intermediates,
                                timeout_s=daemon.settings.revocation.policy.timeout_s)
    return json_reply({
        "signatures": [{**asdict(r), "passed": r.passed} for r in reports],
        "passed": bool(reports) and all(r.passed for r in reports),
    })
