"""Write docs/api-reference.md from the daemon's OpenAPI document.

    python docs/make_api_reference.py

A test fails when the committed page differs from what this prints.
"""

from __future__ import annotations

import json
from pathlib import Path

from signer.api.openapi import document
from signer.errors import KINDS

TARGET = Path(__file__).resolve().parent / "api-reference.md"


def render() -> str:
    spec = document()
    lines = [
        "# API reference",
        "",
        "Generated from the OpenAPI document (`GET /v1/openapi.json`) by `docs/make_api_reference.py`;",
        "do not edit by hand.",
        "",
        spec["info"]["description"],
        "",
        "Servers: " + ", ".join(f"`{s['url']}`" for s in spec["servers"]) + ".",
        "",
        "Authentication: a page from an allowed origin sends its `Origin` (consent is asked once per",
        "origin); a local client sends `Authorization: Bearer <token>` with the token from the user's",
        "config folder (`api-token`). Routes marked *public* need neither.",
        "",
    ]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            public = " *(public)*" if op.get("security") == [] else ""
            lines += [f"## `{method.upper()} {path}`{public}", "", op["summary"], ""]
            for param in op.get("parameters", []):
                enum = param["schema"].get("enum")
                values = f" (one of {', '.join(f'`{v}`' for v in enum)})" if enum else ""
                lines.append(f"- {param['in']} `{param['name']}`{values}: {param.get('description', '')}".rstrip(": "))
            body = op.get("requestBody")
            if body:
                lines.append("- request body: " + ", ".join(f"`{ct}`" for ct in body["content"]))
            status, ok = next((code, reply) for code, reply in op["responses"].items() if code.startswith("2"))
            lines.append(f"- {status}: {ok['description']} (" + ", ".join(f"`{ct}`" for ct in ok["content"]) + ")")
            lines.append("")
    lines += ["## Schemas", ""]
    for name, schema in spec["components"]["schemas"].items():
        if name == "Error":
            continue
        lines += [f"### {name}", "", "```json", json.dumps(schema, ensure_ascii=False, indent=2), "```", ""]
    lines += [
        "## Errors",
        "",
        "Every error is JSON `{\"code\", \"message\", \"message_vi\"}` with a stable code:",
        "",
        "| Code | HTTP | Message (English) |",
        "|---|---|---|",
    ]
    for kind in KINDS.values():
        message = kind.message_en.replace("{detail}", "…").replace("{hint_en}", "")  # what to do, when known
        lines.append(f"| `{kind.code}` | {kind.http_status} | {message} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
