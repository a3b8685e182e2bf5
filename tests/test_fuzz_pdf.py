"""Property-based fuzzing of PDF structure against the running daemon.

Each document, built from random parts or a fixture damaged, goes to ``POST /v1/sign/pdf``
without a profile and with the ``approved`` profile (whose block is placed below an
anchor: the anchor search walks every page), and to ``POST /v1/verify/pdf``. Whatever it
is, the answer is a signed PDF or a report for a document that is in fact valid, else a
JSON error with a known code and its 4xx status: never a 5xx, never a hang, and the
daemon answers its health check afterwards. Documents found to break this are kept in
``fixtures/documents/fuzz/`` and checked on every run.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import DOCUMENTS, DevEnv
from daemon_harness import RunningDaemon
from fuzzing import CLIENT_TIMEOUT_S, FUZZ, assert_healthy, assert_refusal, save_failure
from http_client import Reply, call
from hypothesis import given, note
from hypothesis.strategies import SearchStrategy
from pdf_strategies import mutated_samples, pdf_documents

pytestmark = pytest.mark.fuzz

SIGN_QUERIES = ["", "?profile=approved&level=B-B"]  # B-B: the anchor search is the point, not the timestamp
FOUND = sorted((DOCUMENTS / "fuzz").glob("*.pdf"))


@pytest.fixture(scope="module")
def daemon(dev_env: DevEnv, tmp_path_factory: pytest.TempPathFactory):
    with RunningDaemon(dev_env.signer_config, tmp_path_factory.mktemp("fuzz-pdf"),
                       limits={"rate_per_second": 100000, "rate_burst": 100000}) as running:
        yield running


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-pdf-failures")


def post(daemon: RunningDaemon, path: str, document: bytes) -> Reply:
    return call("POST", f"{daemon.url}{path}", headers={**daemon.auth, "Content-Type": "application/pdf"},
                body=document, timeout=CLIENT_TIMEOUT_S)


def check_document(daemon: RunningDaemon, document: bytes) -> list[str]:
    """What each call answered: "signed" (or "reported"), else the refusal's code."""
    outcomes = []
    for query in SIGN_QUERIES:
        signed = post(daemon, f"/v1/sign/pdf{query}", document)
        if signed.status == 200:
            assert signed.headers["content-type"] == "application/pdf" and b"/ByteRange" in signed.body
            outcomes.append(f"signed{query}")
        else:
            assert_refusal(signed)
            outcomes.append(str(signed.code))
    verified = post(daemon, "/v1/verify/pdf", document)
    if verified.status == 200:
        report = verified.json()
        assert isinstance(report["signatures"], list) and isinstance(report["passed"], bool), report
        outcomes.append("reported")
    else:
        assert_refusal(verified)
        outcomes.append(str(verified.code))
    assert_healthy(daemon)
    return outcomes


def run_property(daemon: RunningDaemon, failures: Path, documents: SearchStrategy[bytes]) -> Counter[str]:
    outcomes: Counter[str] = Counter()

    @FUZZ
    @given(document=documents)
    def examples(document: bytes) -> None:
        try:
            outcomes.update(check_document(daemon, document))
        except BaseException:
            note(f"the document is saved as {save_failure(failures, document, 'pdf')}")
            raise

    examples()
    return outcomes


def test_built_documents_get_an_answer(daemon: RunningDaemon, failures: Path) -> None:
    outcomes = run_property(daemon, failures, pdf_documents())
    # the strategy is not all noise: some documents are signed, some reach the anchor search, others are refused
    searched = outcomes[f"signed{SIGN_QUERIES[1]}"] + outcomes["ANCHOR_NOT_FOUND"]
    assert outcomes["signed"] and searched and outcomes["DOCUMENT_INVALID"], outcomes


def test_damaged_samples_get_an_answer(daemon: RunningDaemon, failures: Path) -> None:
    outcomes = run_property(daemon, failures, mutated_samples())
    assert outcomes["signed"] and outcomes["DOCUMENT_INVALID"], outcomes


@pytest.mark.parametrize("path", FOUND, ids=[p.name for p in FOUND])
def test_documents_the_fuzzer_found_get_an_answer(daemon: RunningDaemon, path: Path) -> None:
    check_document(daemon, path.read_bytes())
