"""The route table of the native API."""

from __future__ import annotations

from aiohttp import web

from .replies import json_reply

from . import batches, info, sign
from .openapi import document


async def openapi(request: web.Request) -> web.Response:
    return json_reply(document())


ROUTES = [
    web.get("/v1/health", info.health),
    web.get("/v1/openapi.json", openapi),
    web.get("/v1/tokens", info.tokens),
    web.get("/v1/certificates", info.certificates),
    web.post("/v1/sign/pdf", sign.sign_pdf),
    web.post("/v1/sign/cms", sign.sign_cms),
    web.post("/v1/sign/hash", sign.sign_hash),
    web.post("/v1/verify/pdf", info.verify),
    web.post("/v1/batches", batches.create),
    web.get("/v1/batches/{id}", batches.status),
    web.get("/v1/batches/{id}/events", batches.events),
    web.get("/v1/batches/{id}/items/{index}", batches.item),
    web.delete("/v1/batches/{id}", batches.cancel),
    web.post("/v1/batches/{id}/resume", batches.resume),
]

PUBLIC = {("GET", "/v1/health"), ("GET", "/v1/openapi.json")}
