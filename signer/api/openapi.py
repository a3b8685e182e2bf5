"""The OpenAPI 3.1 document of the native API, served at /v1/openapi.json.

A test checks that its paths and the application's routes are the same set.
"""

from __future__ import annotations

from typing import Any

from policies.profiles import LEVELS

from .. import __version__
from ..errors import KINDS
from ..service.options import openapi_parameters, openapi_properties

ERROR_STATUSES = sorted({kind.http_status for kind in KINDS.values()})


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors() -> dict[str, Any]:
    return {str(status): _json(_ref("Error"), "Error with a stable code") for status in ERROR_STATUSES}


def _operation(summary: str, ok: dict[str, Any], *, public: bool = False, status: str = "200",
               **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {status: ok, **_errors()}, **extra}
    if public:
        op["security"] = []
    return op


BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}
BATCH_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _document_form(options: dict[str, Any]) -> dict[str, Any]:
    """A multipart body: the document in ``file``, then ``options`` as fields."""
    return {"type": "object", "required": ["file"], "properties": {"file": BINARY, **options}}


def _batch_form() -> dict[str, Any]:
    return {"type": "object", "required": ["file"], "properties": {
        **openapi_properties("batch"),
        "file": {"type": "array", "items": {"type": "string", "contentMediaType": "application/pdf"}},
    }}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "vn-token-signer native API",
            "version": __version__,
            "description": (
                "Local signing API for Vietnamese government USB tokens. Browser pages must come from an "
                "allowed origin and get the official's consent; local clients present the API token "
                "from the user's config folder as a bearer token. The PIN never crosses this API."
            ),
        },
        "servers": [{"url": "http://127.0.0.1:8986"}, {"url": "https://127.0.0.1:8987"}],
        "security": [{"apiToken": []}],
        "paths": {
            "/v1/health": {"get": _operation("Version, uptime, tokens present", _json(_ref("Health")),
                                             public=True, operationId="health")},
            "/v1/openapi.json": {"get": _operation("This document", _json({"type": "object"}),
                                                   public=True, operationId="openapi")},
            "/v1/tokens": {"get": _operation("Connected tokens", _json({"type": "array", "items": _ref("Token")}),
                                             operationId="listTokens")},
            "/v1/certificates": {"get": _operation(
                "Signing certificates", _json({"type": "array", "items": _ref("Certificate")}),
                operationId="listCertificates",
                parameters=[{"name": "key_usage", "in": "query", "required": False, "schema": {
                    "type": "string", "enum": ["digital_signature", "non_repudiation", "key_encipherment",
                                               "data_encipherment", "key_agreement"]}}],
            )},
            "/v1/events": {"get": _operation(
                "Tokens arriving and leaving, as Server-Sent Events: `present` first (`tokens`: what is "
                "plugged in now, `watchers`, `unavailable`), then `arrived` and `left`, each a TokenChange "
                "as data. No certificate or holder is named (those follow the origin's consent: "
                "`/v1/certificates`); a comment line every 15 s keeps the stream open",
                {"description": "An event stream; each `arrived` and `left` event's data is a TokenChange "
                                "(components/schemas/TokenChange) in JSON",
                 "content": {"text/event-stream": {"schema": {
                     "type": "object", "required": ["event", "data"],
                     "properties": {"event": {"type": "string", "enum": ["present", "arrived", "left"]},
                                    "data": {"type": "string", "contentMediaType": "application/json"}}}}}},
                operationId="tokenEvents")},
            "/v1/sign/pdf": {"post": _operation(
                "Sign a PDF (PAdES)",
                {"description": "The signed PDF (facts in X-* headers), or JSON with Accept: application/json",
                 "content": {"application/pdf": {"schema": BINARY}, "application/json": {"schema": _ref("SignedPdf")}}},
                operationId="signPdf",
                parameters=openapi_parameters("pdf"),
                requestBody={"required": True, "content": {
                    "application/pdf": {"schema": BINARY},
                    "multipart/form-data": {"schema": _document_form(openapi_properties("pdf"))},
                }},
            )},
            "/v1/sign/cms": {"post": _operation(
                "Detached CMS (CAdES-BES) signature over any content (the raw consent scope: the content "
                "cannot be shown to the official)",
                {"description": "DER CMS, or JSON with Accept: application/json",
                 "content": {"application/pkcs7-signature": {"schema": BINARY},
                             "application/json": {"schema": _ref("SignedCms")}}},
                operationId="signCms",
                parameters=openapi_parameters("cms"),
                requestBody={"required": True, "content": {
                    "application/octet-stream": {"schema": BINARY},
                    "multipart/form-data": {"schema": _document_form(openapi_properties("cms"))},
                }},
            )},
            "/v1/sign/hash": {"post": _operation(
                "Sign a digest computed by the caller (the raw consent scope: the content cannot be shown "
                "to the official)",
                _json(_ref("HashSignature")),
                operationId="signHash",
                requestBody={"required": True, "content": {"application/json": {"schema": _ref("HashRequest")}}},
            )},
            "/v1/verify/pdf": {"post": _operation(
                "Check the signatures of a PDF", _json(_ref("Verification")),
                operationId="verifyPdf",
                description="The authorities (OCSP, CRL, issuer certificates) are asked only under the URL "
                            "policy: only about a signer whose chain leads to a configured trust anchor, and only "
                            "on the configured CAs' hosts. Each signature's `fetches` lists what was fetched and "
                            "what the policy refused. When the authorities give no answer (unreachable, an error, "
                            "or not within `[revocation] fetch_budget_s`), the signature is judged by the "
                            "document's own validation data (its DSS, the revocation answers embedded in the "
                            "signature): `revocation_source` says which, `online_failure` why.",
                requestBody={"required": True, "content": {
                    "application/pdf": {"schema": BINARY},
                    "multipart/form-data": {"schema": _document_form({})},
                }},
            )},
            "/v1/batches": {"post": _operation(
                "Start a batch: one consent and one PIN entry for all its documents",
                _json(_ref("BatchCreated"), "Created; follow it with the id"), status="201",
                operationId="createBatch",
                parameters=openapi_parameters("batch"),
                requestBody={"required": True, "content": {"multipart/form-data": {"schema": _batch_form()}}},
            )},
            "/v1/batches/{id}": {
                "get": _operation("A batch's state and items; it answers until the batch `expires` "
                                  "(`output_retention_h` after it ended, 404 after)", _json(_ref("Batch")),
                                  operationId="getBatch", parameters=[BATCH_ID]),
                "delete": _operation("Cancel: signed items stay available (until fetched or expired), the rest "
                                     "are cancelled and their documents deleted at once: a cancelled batch cannot "
                                     "be resumed",
                                     _json(_ref("Batch"), "Accepted"), status="202", operationId="cancelBatch",
                                     parameters=[BATCH_ID]),
            },
            "/v1/batches/{id}/events": {"get": _operation(
                "Progress as Server-Sent Events: `item` per document, then `batch` with the final state",
                {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                operationId="batchEvents", parameters=[BATCH_ID])},
            "/v1/batches/{id}/items/{index}": {"get": _operation(
                "A signed document of the batch. Kept until it was fetched whole (the daemon's next sweep, "
                "within `retention_sweep_s`, deletes it) and at most until the batch `expires`; 404 after",
                {"description": "The signed PDF",
                                                   "content": {"application/pdf": {"schema": BINARY}}},
                operationId="getBatchItem",
                parameters=[BATCH_ID, {"name": "index", "in": "path", "required": True,
                                       "schema": {"type": "integer", "minimum": 0}}])},
            "/v1/batches/{id}/resume": {"post": _operation(
                "Run again the items a removed token or a PIN problem stopped (their documents are kept until "
                "the batch `expires`; a cancelled batch, or one the official refused, keeps none)",
                _json(_ref("Batch"), "Accepted"), status="202", operationId="resumeBatch", parameters=[BATCH_ID])},
        },
        "components": {
            "securitySchemes": {"apiToken": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
    }


FLAG_NAMES = ("login_required", "protected_authentication_path", "pin_count_low", "pin_final_try", "pin_locked",
              "initialized", "so_pin_count_low", "so_pin_final_try", "so_pin_locked")
FLAGS = {
    "type": "object",
    "required": list(FLAG_NAMES),
    "properties": {name: {"type": "boolean"} for name in FLAG_NAMES},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["code", "message", "message_vi"],
        "properties": {"code": {"type": "string", "enum": sorted(KINDS)}, "message": {"type": "string"},
                       "message_vi": {"type": "string"}},
    },
    "Health": {
        "type": "object",
        "required": ["status", "version", "uptime_s", "tokens_present"],
        "properties": {"status": {"type": "string"}, "version": {"type": "string"},
                       "uptime_s": {"type": "number"}, "tokens_present": {"type": "integer"}},
    },
    "Token": {
        "type": "object",
        "required": ["module", "slot_id", "label", "serial", "manufacturer", "model", "flags"],
        "properties": {"module": {"type": "string"}, "slot_id": {"type": "integer"}, "label": {"type": "string"},
                       "serial": {"type": "string"}, "manufacturer": {"type": "string"},
                       "model": {"type": "string"}, "flags": FLAGS},
    },
    "TokenChange": {
        "type": "object",
        "required": ["kind", "source", "name", "module_installed", "at", "initial"],
        "properties": {
            "kind": {"type": "string", "enum": ["arrived", "left"]},
            "source": {"type": "string", "enum": ["pcsc", "usb", "pkcs11"]},
            "name": {"type": "string", "description": "what the official would call it"},
            "reader": {"type": ["string", "null"]}, "usb_id": {"type": ["string", "null"], "example": "096e:0807"},
            "atr": {"type": ["string", "null"], "example": "3B:95:13:81:01:80:73:FF:01:00:0B"},
            "slot": {"type": ["integer", "null"]}, "label": {"type": ["string", "null"]},
            "model": {"type": ["string", "null"], "description": "the token catalogue's vendor and model"},
            "module": {"type": ["string", "null"]}, "module_installed": {"type": "boolean"},
            "install": {"type": ["string", "null"], "description": "what to install when the module is not here"},
            "at": {"type": "number", "description": "seconds since the epoch"},
            "initial": {"type": "boolean", "description": "there when the daemon started"},
        },
    },
    "Certificate": {
        "type": "object",
        "required": ["id", "label", "subject", "common_name", "issuer", "serial", "not_before", "not_after",
                     "status", "key_usage", "token"],
        "properties": {
            "id": {"type": "string"}, "label": {"type": "string"}, "key_id": {"type": "string"},
            "subject": {"type": "string"}, "common_name": {"type": "string"}, "issuer": {"type": "string"},
            "serial": {"type": "string"}, "not_before": {"type": "string"}, "not_after": {"type": "string"},
            "status": {"type": "string", "enum": ["valid", "expired", "not_yet_valid"]},
            "key_usage": {"type": "array", "items": {"type": "string"}},
            "token": {"type": "object", "properties": {"label": {"type": "string"}, "serial": {"type": "string"}}},
        },
    },
    "SignedPdf": {
        "type": "object",
        "required": ["field", "signer", "signing_time", "input_sha256", "output_sha256", "level", "pdf", "warnings"],
        "properties": {"field": {"type": "string"}, "signer": {"type": "string"},
                       "signing_time": {"type": "string"}, "input_sha256": {"type": "string"},
                       "level": {"type": "string", "enum": list(LEVELS)},
                       "output_sha256": {"type": "string"}, "pdf": {"type": "string", "contentEncoding": "base64"},
                       "placement": {"oneOf": [{"type": "null"}, _ref("Placement")],
                                     "description": "where the signature block went (null: an invisible signature)"},
                       "warnings": {"type": "array", "items": {"type": "string"}},
                       "repaired": {"type": "boolean", "description": "the document was damaged (but readable): "
                                    "its lossless rewrite was signed"},
                       "repaired_sha256": {"type": "string", "description": "the rewrite's SHA-256 (when repaired)"},
                       "note": {"type": "string", "description": "when repaired: what was done, in English"},
                       "note_vi": {"type": "string", "description": "the same in Vietnamese"}},
    },
    "Placement": {
        "type": "object",
        "required": ["page", "rect", "placed_by"],
        "properties": {
            "page": {"type": "integer", "minimum": 1},
            "rect": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
                     "description": "x1, y1, x2, y2 in points from the bottom left corner of the page as shown"},
            "placed_by": {"type": "string",
                          "enum": ["rect", "corner", "seal", "anchor", "title", "certificate", "name", "fallback",
                                   "official"],
                          "description": "who chose the place: rect (the caller's page and rectangle), corner "
                          "(the profile's page corner), seal (over the leader's signature), anchor (the caller's "
                          "anchor text), title (a title line of the profile), certificate (the title in the "
                          "signer's certificate), name (above the signer's printed name), fallback (free space "
                          "at the bottom right of the last page: nothing was found and nobody could be asked), "
                          "official (in the companion's placement dialog)"},
        },
    },
    "SignedCms": {
        "type": "object",
        "required": ["cms", "signing_time", "input_sha256", "warnings"],
        "properties": {"cms": {"type": "string", "contentEncoding": "base64"}, "signing_time": {"type": "string"},
                       "input_sha256": {"type": "string"},
                       "warnings": {"type": "array", "items": {"type": "string"}}},
    },
    "HashRequest": {
        "type": "object",
        "required": ["hash"],
        "properties": {"hash": {"type": "string", "contentEncoding": "base64"},
                       "algorithm": {"type": "string", "enum": ["SHA256", "SHA384", "SHA512"]},
                       "cert": {"type": "string"}},
    },
    "HashSignature": {
        "type": "object",
        "required": ["signature", "certificate", "algorithm", "warnings"],
        "properties": {"signature": {"type": "string", "contentEncoding": "base64"},
                       "certificate": {"type": "string", "contentEncoding": "base64"},
                       "algorithm": {"type": "string"},
                       "warnings": {"type": "array", "items": {"type": "string"}}},
    },
    "BatchCreated": {"type": "object", "required": ["id", "total"],
                     "properties": {"id": {"type": "string"}, "total": {"type": "integer"}}},
    "Batch": {
        "type": "object",
        "required": ["id", "state", "total", "done", "failed", "expires", "items"],
        "properties": {
            "id": {"type": "string"},
            "state": {"type": "string", "enum": ["pending", "running", "done", "failed", "cancelled"]},
            "total": {"type": "integer"}, "done": {"type": "integer"}, "failed": {"type": "integer"},
            "expires": {"type": ["string", "null"], "format": "date-time",
                        "description": "when the batch and what is left of its documents are deleted "
                                       "(null while it runs)"},
            "items": {"type": "array", "items": {
                "type": "object", "required": ["index", "name", "sha256", "pages", "state", "error", "fetched"],
                "properties": {"index": {"type": "integer"}, "name": {"type": "string"}, "sha256": {"type": "string"},
                               "pages": {"type": ["integer", "null"], "description": "counted before consent "
                                         "is asked, or when the document is prepared"},
                               "state": {"type": "string", "enum": ["pending", "signed", "failed", "cancelled"]},
                               "error": {"type": ["string", "null"]},
                               "fetched": {"type": "boolean", "description": "its signed document was fetched "
                                           "whole: the next sweep deletes it"}}}},
        },
    },
    "Verification": {
        "type": "object",
        "required": ["signatures", "passed"],
        "properties": {
            "passed": {"type": "boolean"},
            "signatures": {"type": "array", "items": {
                "type": "object",
                "required": ["field", "signer", "intact", "valid", "trusted", "coverage", "revocation", "level",
                             "indication", "passed"],
                "properties": {
                    "field": {"type": "string"}, "signer": {"type": "string"}, "signer_subject": {"type": "string"},
                    "chain": {"type": "array", "items": {"type": "string"}},
                    "signing_time": {"type": ["string", "null"]}, "timestamp": {"type": ["string", "null"]},
                    "intact": {"type": "boolean"},
                    "valid": {"type": "boolean"}, "trusted": {"type": "boolean"}, "coverage": {"type": "string"},
                    "modification_level": {"type": ["string", "null"]}, "passed": {"type": "boolean"},
                    "revocation": {"type": "string", "enum": ["good", "revoked", "unknown"]},
                    "level": {"type": "string", "enum": list(LEVELS)},
                    "indication": {"type": "string", "enum": ["TOTAL-PASSED", "INDETERMINATE", "TOTAL-FAILED"]},
                    "sub_indication": {"type": ["string", "null"]},
                    "details": {"type": "array", "items": {"type": "string"}},
                    # whether the authorities were asked: under the URL policy, not at all, or not at
                    # all because the signer's chain leads to no configured trust anchor
                    "fetching": {"type": "string", "enum": ["online", "offline", "untrusted-chain"]},
                    "fetches": {"type": "array", "items": {
                        "type": "object", "required": ["url", "outcome"],
                        "properties": {"url": {"type": "string"},
                                       "outcome": {"type": "string", "enum": ["fetched", "refused", "failed"]},
                                       "reason": {"type": ["string", "null"]}}}},
                    # the revocation answers the verdict rests on: fresh ones, the document's own
                    # (when the authorities gave none), or none; and why the online ones were not used
                    "revocation_source": {"type": "string", "enum": ["online", "document", "none"]},
                    "online_failure": {"type": ["string", "null"]},
                },
            }},
        },
    },
}
