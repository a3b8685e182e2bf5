"""The OpenAPI document matches the routes, and the API reference matches the document."""

from __future__ import annotations

import runpy

from conftest import REPO

from signer.api.openapi import document
from signer.api.policy import handler_policy
from signer.api.routes import ROUTES


def test_every_route_is_documented_and_every_path_is_routed() -> None:
    routed = {(route.method.upper(), route.path) for route in ROUTES}
    spec = document()
    documented = {(method.upper(), path) for path, methods in spec["paths"].items() for method in methods}
    assert routed == documented
    public = {(m.upper(), p) for p, ms in spec["paths"].items() for m, op in ms.items() if op.get("security") == []}
    assert public == {(route.method.upper(), route.path) for route in ROUTES if handler_policy(route.handler).public}


def test_api_reference_is_up_to_date() -> None:
    render = runpy.run_path(str(REPO / "docs" / "make_api_reference.py"))["render"]
    assert (REPO / "docs" / "api-reference.md").read_text(encoding="utf-8") == render(), \
        "run: python docs/make_api_reference.py"


def test_vgca_status_table_in_the_docs_matches_the_code() -> None:
    import re

    from signer.vgca.status import STATUS_BY_CODE

    documented = {}
    for line in (REPO / "docs" / "vgca-integration.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| (\d+) \| ([^|]*) \|", line)
        if match:
            for code in re.findall(r"`([A-Z_]+)`", match.group(2)):
                documented[code] = int(match.group(1))
    assert documented == STATUS_BY_CODE
