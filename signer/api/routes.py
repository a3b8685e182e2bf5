"""The route table of the native API, each route with its policy (default: API token or allowed Origin)."""

from __future__ import annotations

from aiohttp import web

from . import batches, events, info, sign
from .openapi import document
from .policy import BATCH_UPLOAD, PUBLIC, STREAM, with_policy
from .replies import json_reply


async def openapi(request: web.Request) -> web.Response:
    return json_reply(document())


ROUTES = [
    web.get("/v1/health", with_policy(info.health, PUBLIC)),
    web.get("/v1/openapi.json", with_policy(openapi, PUBLIC)),
    web.get("/v1/tokens", info.tokens),
    web.get("/v1/certificates", info.certificates),
    web.get("/v1/events", with_policy(events.token_events, STREAM)),
    web.post("/v1/sign/pdf", sign.sign_pdf),
    web.post("/v1/sign/cms", sign.sign_cms),
    web.post("/v1/sign/hash", sign.sign_hash),
    web.post("/v1/verify/pdf", info.verify),
    web.post("/v1/batches", with_policy(batches.create, BATCH_UPLOAD)),
    web.get("/v1/batches/{id}", batches.status),
    web.get("/v1/batches/{id}/events", with_policy(batches.events, STREAM)),
    web.get("/v1/batches/{id}/items/{index}", batches.item),
    web.delete("/v1/batches/{id}", batches.cancel),
    web.post("/v1/batches/{id}/resume", batches.resume),
]
