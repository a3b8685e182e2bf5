"""Hostile PDFs (fixtures/documents/hostile): each is refused with its code, through the engine
and through the running daemon, in one audit line and without a traceback; the anchor search
reads the document once and only its last pages; stream decoding stays within its caps, in
memory too (measured in a separate process).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator

import pytest
import structlog.testing
from conftest import DOCUMENTS, DevEnv, assert_no_traceback
from daemon_harness import RunningDaemon
from http_client import call
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfinterp import PDFPageInterpreter
from pyhanko.pdf_utils.reader import PdfFileReader

from policies.limits import load_limits
from signer.engine import budget, pdf, preview
from signer.engine.appearance import BlockFacts
from signer.engine.cms import signing_time_now
from signer.engine.options import PlacementRequest
from signer.engine.reading import reading
from signer.errors import SignerError

HOSTILE = DOCUMENTS / "hostile"
sys.path.insert(0, str(HOSTILE))
import make_hostile  # noqa: E402  (the corpus's generator, beside its files)

PAGE = "http://127.0.0.1:5173"
# no fallback: a title not found within the budget is ANCHOR_NOT_FOUND (someone would be asked)
APPROVED = pdf.PdfSignOptions(profile="approved", placement=PlacementRequest(fallback=False))
FACTS = BlockFacts(signer="Lê Hồng Sơn", organisation="UBND", time=signing_time_now())

# name: (the document, the code it gets when a block must be placed by the profile's anchors)
CASES: dict[str, tuple[Callable[[], bytes], str]] = {
    "page-tree-cycle": (lambda: (HOSTILE / "page-tree-cycle.pdf").read_bytes(), "DOCUMENT_INVALID"),
    "self-referencing-length": (lambda: (HOSTILE / "self-referencing-length.pdf").read_bytes(), "DOCUMENT_INVALID"),
    "reference-loop": (lambda: (HOSTILE / "reference-loop.pdf").read_bytes(), "DOCUMENT_INVALID"),
    "short-mediabox": (lambda: (HOSTILE / "short-mediabox.pdf").read_bytes(), "DOCUMENT_INVALID"),
    "deep-page-tree": (make_hostile.deep_page_tree, "DOCUMENT_TOO_COMPLEX"),
    "xref-chain": (make_hostile.xref_chain, "DOCUMENT_TOO_COMPLEX"),
    "10000-pages-anchor-on-page-1": (make_hostile.many_pages, "ANCHOR_NOT_FOUND"),
    "10000-pages-no-anchor": (lambda: make_hostile.many_pages(anchor_page=None), "ANCHOR_NOT_FOUND"),
    "flate-bomb": (make_hostile.flate_bomb, "DOCUMENT_TOO_COMPLEX"),
    "object-stream-bomb": (make_hostile.object_stream_bomb, "DOCUMENT_TOO_COMPLEX"),
    "huge-xref": (make_hostile.huge_xref, "DOCUMENT_TOO_COMPLEX"),
}
# A caller's anchor that is not found is refused: the profile's own titles would fall back to free
# space on the last page, and the point of these cases is the bounded search
CALLER_ANCHOR = "&anchor=" + urllib.parse.quote(make_hostile.ANCHOR)
SEARCHED = {"10000-pages-anchor-on-page-1": CALLER_ANCHOR, "10000-pages-no-anchor": CALLER_ANCHOR}

# What verification answers: a code (422), or None for a report of no signatures (200).
VERIFIED: dict[str, str | None] = {
    **dict.fromkeys(CASES, None), "huge-xref": "DOCUMENT_TOO_COMPLEX",
    "signature-value-not-a-dictionary": "DOCUMENT_INVALID",  # a signature field whose /V is 5
}


@pytest.fixture(scope="module")
def corpus() -> dict[str, bytes]:
    return {name: make() for name, (make, _) in CASES.items()} | {
        "signature-value-not-a-dictionary": (HOSTILE / "signature-value-not-a-dictionary.pdf").read_bytes()}


@pytest.fixture
def packaged_budget() -> Iterator[None]:
    """Each daemon sets the process's reading budget from its limits: put the packaged one back."""
    yield
    budget.configure(budget.ReadBudget.of(load_limits()))


def test_the_committed_files_are_the_generators_own() -> None:
    for name, make in make_hostile.SMALL.items():
        assert (HOSTILE / name).read_bytes() == make(), f"{name}: run fixtures/documents/hostile/make_hostile.py"


@pytest.mark.parametrize("name", list(CASES))
def test_the_engine_refuses_each_with_its_code(name: str, corpus: dict[str, bytes]) -> None:
    code = CASES[name][1]
    with pytest.raises(SignerError) as placed:
        pdf.plan_pdf(corpus[name], APPROVED)
    assert placed.value.code == code, placed.value.detail
    with pytest.raises(SignerError) as previewed:  # refused before PDFium sees it
        preview.preview_png(corpus[name], APPROVED, FACTS)
    assert previewed.value.code == code


def test_a_cycle_and_a_loop_say_what_they_are(corpus: dict[str, bytes]) -> None:
    details = {}
    for name in ("page-tree-cycle", "reference-loop", "deep-page-tree", "xref-chain", "short-mediabox"):
        with pytest.raises(SignerError) as refused:
            pdf.plan_pdf(corpus[name], APPROVED)
        details[name] = refused.value.detail
    assert details["page-tree-cycle"] == "the page tree reaches object 2 twice (a cycle)"
    assert "refers to itself" in details["reference-loop"]
    assert details["deep-page-tree"] == "the page tree is more than 64 levels deep"
    assert details["xref-chain"].startswith("it has 3001 revisions")
    assert details["short-mediabox"] == "a page's MediaBox is not four numbers"


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times pdfminer parses a document and interprets a page."""
    counted = {"documents": 0, "pages": 0}
    document_init, process_page = PDFDocument.__init__, PDFPageInterpreter.process_page

    def count_document(self, *args, **kwargs):
        counted["documents"] += 1
        document_init(self, *args, **kwargs)

    def count_page(self, page):
        counted["pages"] += 1
        process_page(self, page)

    monkeypatch.setattr(PDFDocument, "__init__", count_document)
    monkeypatch.setattr(PDFPageInterpreter, "process_page", count_page)
    return counted


def test_the_anchor_search_reads_the_document_once_and_only_its_last_pages(corpus: dict[str, bytes],
                                                                           reads: dict[str, int]) -> None:
    with pytest.raises(SignerError) as refused:
        pdf.plan_pdf(corpus["10000-pages-anchor-on-page-1"], APPROVED)
    assert refused.value.code == "ANCHOR_NOT_FOUND"
    assert refused.value.detail.startswith("searched the last 20 of 10000 pages for: “PHÓ CHỦ TỊCH”")
    assert reads == {"documents": 1, "pages": 20}


def test_a_found_anchor_and_the_header_share_one_read(reads: dict[str, int]) -> None:
    data = make_hostile.many_pages(anchor_page=9990)
    plan = pdf.plan_pdf(data, APPROVED)
    assert plan is not None and plan.spot.page == 9989
    assert plan.header is not None and plan.header.new == []  # no blanks on page 1: nothing to make
    assert reads == {"documents": 1, "pages": 12}, "the last 11 pages from the end, then page 1 for the header"


def test_the_search_stops_at_the_configured_pages(packaged_budget: None) -> None:
    data = make_hostile.many_pages(30, anchor_page=20)
    assert pdf.plan_pdf(data, APPROVED).spot.page == 19  # type: ignore[union-attr]
    budget.configure(budget.ReadBudget(anchor_search_pages=10, decoded_max_bytes=256 << 20, decoded_max_ratio=100))
    with pytest.raises(SignerError) as refused:
        pdf.plan_pdf(data, APPROVED)
    assert refused.value.code == "ANCHOR_NOT_FOUND" and "the last 10 of 30 pages" in refused.value.detail


def test_small_streams_pass_whatever_their_ratio_large_ones_need_a_sane_one() -> None:
    with pytest.raises(SignerError) as small:  # 4 MB of spaces from 4 KB: read (no anchor in it)
        pdf.plan_pdf(make_hostile.flate_bomb(decoded_mb=4), APPROVED)
    assert small.value.code == "ANCHOR_NOT_FOUND"
    with pytest.raises(SignerError) as large:  # 8 MB from 8 KB: a bomb
        pdf.plan_pdf(make_hostile.flate_bomb(decoded_mb=8), APPROVED)
    assert (large.value.code, large.value.detail) == ("DOCUMENT_TOO_COMPLEX", "a stream decodes to more than 4 MB")


# The peak resident size of the reading process itself: /proc's VmHWM (getrusage's ru_maxrss
# would start from the parent's, this test process's, peak).
MEASURE = """
import json, re, sys
sys.path.insert(0, sys.argv[1])
import make_hostile
from signer.engine import pdf
from signer.errors import SignerError
data = getattr(make_hostile, sys.argv[2])()
try:
    pdf.plan_pdf(data, pdf.PdfSignOptions(profile="approved"))
    code = "OK"
except SignerError as error:
    code = error.code
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"code": code, "size": len(data), "max_rss_mb": peak_kb // 1024}))
"""


@pytest.mark.parametrize("case", ["flate_bomb", "object_stream_bomb", "huge_xref"])
def test_a_bomb_is_refused_within_a_few_hundred_megabytes(case: str) -> None:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(HOSTILE), case], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["code"] == "DOCUMENT_TOO_COMPLEX"
    assert measured["size"] < 2 << 20, "a small file..."
    assert measured["max_rss_mb"] < 400, f"...read within a few hundred MB, not its 1 GB: {measured}"


@pytest.fixture(scope="module")
def daemon(dev_env: DevEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    with RunningDaemon(dev_env.signer_config, tmp_path_factory.mktemp("hostile"), allow_origins=(PAGE,),
                       pregranted=(PAGE,), unattended=(PAGE,)) as running:
        yield running


@pytest.mark.parametrize("name", list(CASES))
def test_the_daemon_answers_each_with_a_4xx_and_one_audit_line(name: str, corpus: dict[str, bytes],
                                                               daemon: RunningDaemon,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    code = CASES[name][1]
    audit_before, calls_before = len(daemon.audit_lines()), daemon.token_calls
    capfd.readouterr()
    with structlog.testing.capture_logs() as logged:
        reply = call("POST", f"{daemon.url}/v1/sign/pdf?profile=approved{SEARCHED.get(name, '')}",
                     headers={"Origin": PAGE, "Content-Type": "application/pdf"}, body=corpus[name])
    assert (reply.status, reply.code) == (422, code), reply.body
    assert daemon.token_calls == calls_before, "refused before the token"
    new = daemon.audit_settled(audit_before + 1)[audit_before:]
    assert [(line["operation"], line["result"]) for line in new] == [("POST /v1/sign/pdf", code)]
    assert [entry for entry in logged if entry["log_level"] in ("error", "critical")] == []
    printed = capfd.readouterr().err  # what the PDF libraries' own logging printed
    assert "Traceback" not in printed and len(printed.splitlines()) <= 1, printed
    assert call("GET", f"{daemon.url}/v1/health").status == 200


@pytest.mark.parametrize("name", list(VERIFIED))
def test_the_daemon_verifies_each_with_a_4xx_or_an_honest_report(name: str, corpus: dict[str, bytes],
                                                                  daemon: RunningDaemon) -> None:
    with structlog.testing.capture_logs() as logged:
        reply = call("POST", f"{daemon.url}/v1/verify/pdf",
                     headers={"Origin": PAGE, "Content-Type": "application/pdf"}, body=corpus[name])
    code = VERIFIED[name]
    if code is None:
        assert (reply.status, reply.json()) == (200, {"signatures": [], "passed": False}), reply.body[:300]
    else:
        assert (reply.status, reply.code) == (422, code), reply.body[:300]
    assert [entry for entry in logged if entry["log_level"] in ("error", "critical")] == []
    assert call("GET", f"{daemon.url}/v1/health").status == 200


def test_the_configured_page_cap_reaches_the_search(dev_env: DevEnv, tmp_path, packaged_budget: None) -> None:
    data = make_hostile.many_pages(30, anchor_page=20)  # found on the 11th page from the end
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(PAGE,), pregranted=(PAGE,),
                       unattended=(PAGE,), limits={"anchor_search_pages": 5}) as daemon:
        reply = call("POST", f"{daemon.url}/v1/sign/pdf?profile=approved{CALLER_ANCHOR}",
                     headers={"Origin": PAGE, "Content-Type": "application/pdf"}, body=data)
    assert (reply.status, reply.code) == (422, "ANCHOR_NOT_FOUND")
    assert "the last 5 of 30 pages" in reply.json()["message"]


def test_the_command_line_refuses_without_a_traceback(dev_env: DevEnv, tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "signer", "preview", str(HOSTILE / "page-tree-cycle.pdf"),
                           "--profile", "approved", "-o", str(tmp_path / "where.png")],
                          capture_output=True, text=True, env=dev_env.env(), timeout=120)
    assert done.returncode == 4, done.stderr
    assert "DOCUMENT_INVALID" in done.stderr and "cycle" in done.stderr
    assert_no_traceback(done)


def test_verify_on_the_command_line_refuses_without_a_traceback(dev_env: DevEnv) -> None:
    done = subprocess.run([sys.executable, "-m", "signer", "verify", "--offline",
                           str(HOSTILE / "signature-value-not-a-dictionary.pdf")],
                          capture_output=True, text=True, env=dev_env.env(), timeout=120)
    assert done.returncode == 4, done.stderr
    assert "DOCUMENT_INVALID" in done.stderr
    assert_no_traceback(done)


def test_an_error_in_our_own_code_is_refused_and_logged_a_library_error_only_refused() -> None:
    with structlog.testing.capture_logs() as logged:
        with pytest.raises(SignerError) as ours, reading():
            pdf.page_count(None)  # type: ignore[arg-type]  # a bug of ours: AttributeError in signer.engine.pdf
        with pytest.raises(SignerError) as theirs, reading():
            PdfFileReader(io.BytesIO(b"%PDF-1.7 not a document"), strict=False)
    assert ours.value.code == theirs.value.code == "DOCUMENT_INVALID"
    assert [(e["event"], e["error"], e["origin"], e["exc_info"] is not None) for e in logged] == \
        [("document_read_error", "AttributeError", "signer.engine.pdf", True)]

