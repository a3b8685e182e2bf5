"""Schema-driven fuzzing of the native API with schemathesis: no 5xx, no schema violation.

Examples per operation are bounded so the run stays short; the daemon is real, on
loopback, with the development tokens (bodies that happen to be valid really sign).
"""

from __future__ import annotations

import pytest
import schemathesis
from conftest import DevEnv
from daemon_harness import RunningDaemon
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# "Schema-valid" bytes are rarely a PDF, so a 422 for them is right: the check that
# expects any schema-valid body to be accepted does not apply to document uploads.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


@pytest.fixture(scope="module")
def fuzzed_daemon(dev_env: DevEnv, tmp_path_factory: pytest.TempPathFactory):
    with RunningDaemon(dev_env.signer_config, tmp_path_factory.mktemp("fuzz"),
                       limits={"rate_per_second": 1000, "rate_burst": 1000}) as running:
        yield running


def test_api_conforms_to_its_schema(fuzzed_daemon: RunningDaemon) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_daemon.url}/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert {"POST /v1/sign/pdf", "POST /v1/sign/cms", "POST /v1/sign/hash", "POST /v1/verify/pdf",
            "GET /v1/tokens", "GET /v1/certificates", "GET /v1/health"} <= labels

    for operation in operations:
        if operation.label == "GET /v1/events":
            continue  # an endless stream: tests/test_token_events.py reads it
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        def examples(case) -> None:
            case.call_and_validate(base_url=fuzzed_daemon.url, headers=fuzzed_daemon.auth, checks=CHECKS)

        examples()
    assert fuzzed_daemon.audit_lines(), "the fuzzer reached the daemon"
