"""What the fuzz tests share: their hypothesis settings, and what a well-formed answer is.

By default a short run with a fixed (derandomised) sequence of examples, so the suite is
reproducible, that reports the first failing example as it is (shrinking a hang would cost
a client timeout per step); ``SIGNER_FUZZ_EXAMPLES=N`` makes a long run of N fresh random
examples per property that shrinks what fails, remembered in ``.hypothesis/`` so a failure
found replays first.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from daemon_harness import RunningDaemon
from http_client import Reply, call
from hypothesis import HealthCheck, Phase, settings

from signer.errors import KINDS, Code

SHORT_RUN_EXAMPLES = 60
LONG_RUN_EXAMPLES = int(os.environ.get("SIGNER_FUZZ_EXAMPLES") or 0)
CLIENT_TIMEOUT_S = 30.0  # an answer later than this counts as a hang
HEALTH_TIMEOUT_S = 5.0

COMMON = settings(
    deadline=None,  # timing is the client timeout's business: a slow shared machine is no failure
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.large_base_example],
)
if LONG_RUN_EXAMPLES:
    FUZZ = settings(COMMON, max_examples=LONG_RUN_EXAMPLES)
else:
    FUZZ = settings(COMMON, max_examples=SHORT_RUN_EXAMPLES, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate])

KNOWN_CODES = {code.value for code in Code}
KNOWN_VGCA_STATUSES = {0} | {kind.vgca_status for kind in KINDS.values()}


def assert_refusal(reply: Reply) -> None:
    """A JSON error with a known code, not an internal one, and the status the error table gives it."""
    assert reply.status < 500, (reply.status, reply.body[:500])
    body = reply.json()
    assert isinstance(body, dict) and body.get("code") in KNOWN_CODES, reply.body[:500]
    assert body["code"] != Code.INTERNAL_ERROR, body
    assert reply.status == KINDS[Code(body["code"])].http_status, (reply.status, body)


def assert_vgca_failure(reply: dict[str, Any]) -> None:
    """A VGCA reply with a known status; a failure's code known, not internal, and its status the table's."""
    assert reply.get("Status") in KNOWN_VGCA_STATUSES, reply
    code = reply.get("Code")
    if reply["Status"] == 0:
        assert code is None, reply
        return
    assert isinstance(reply.get("Message"), str) and reply["Message"], reply
    if code == "BATCH_INCOMPLETE":  # SignFiles: some files failed, each with its own status
        for entry in reply["Files"]:
            assert entry["Status"] in KNOWN_VGCA_STATUSES, entry
        return
    assert code in KNOWN_CODES and code != Code.INTERNAL_ERROR, reply
    assert reply["Status"] == KINDS[Code(code)].vgca_status, reply


def assert_healthy(daemon: RunningDaemon) -> None:
    reply = call("GET", f"{daemon.url}/v1/health", timeout=HEALTH_TIMEOUT_S)
    assert reply.status == 200 and reply.json()["status"] == "ok", reply


def save_failure(folder: Path, data: bytes, suffix: str) -> Path:
    """A failing example saved whole: hypothesis's report may shorten it."""
    path = folder / f"{hashlib.sha256(data).hexdigest()[:16]}.{suffix}"
    path.write_bytes(data)
    return path
