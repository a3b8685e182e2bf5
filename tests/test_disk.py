"""Bounded memory and disk for documents, against the running daemon: SignFiles downloads go
to disk under the per-file and batch limits as bytes arrive, before anything is asked; no
document stays in the state folder after a refused, a cancelled or a VGCA batch; signed
ones go once fetched or past retention; a hostile MetaData is refused before anything."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from companion_harness import answering_companion
from conftest import DOCUMENTS, DevEnv
from daemon_harness import RunningDaemon
from docsys import JWT, SESSION, DocumentSystem, Running
from http_client import call
from test_batches import batch_body, create, events, wait_final
from test_serve_cli import daemon_config, start
from test_vgca import document_frame, vgca, vgca_at

from signer.service.batches.journal import DONE, RUNNING, SIGNED, Batch, Item, Journal
from tray.core import TrayCore

MB = 1024 * 1024
REFUSING_PAGE = "http://127.0.0.1:5201"  # allowed, never consented: its batches are refused
ASKING_PAGE = "http://127.0.0.1:5202"  # allowed, not consented: the official is asked
SIGNING_PAGE = "http://127.0.0.1:5203"  # consented and unattended: its batches sign


@pytest.fixture(scope="module")
def docsys():
    with Running(DocumentSystem()) as system:
        yield system


def documents_in(state: Path) -> list[Path]:
    """Every document-like file in the daemon's state folder: PDFs, partial downloads and
    writes, and anything in a batch's inputs or outputs."""
    return [path for path in state.rglob("*") if path.is_file() and (
        path.suffix in (".pdf", ".part") or {"inputs", "outputs"} & set(path.relative_to(state).parts))]


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def sign_files_frame(docsys: DocumentSystem, urls: list[str], **entry_extra) -> dict:
    return {"FileUploadHandler": f"{docsys.url}/upload", "SessionId": SESSION, "JWTToken": JWT,
            "Files": [{"FileID": n, "FileName": f"{n}.pdf", "URL": url, **entry_extra} for n, url in enumerate(urls)]}


def wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not: {what}")
        time.sleep(0.1)


def test_sign_files_of_25_files_of_99_mb_is_refused_at_the_batch_limit_in_little_memory(
        dev_env: DevEnv, docsys: DocumentSystem, tmp_path: Path) -> None:
    """The default limits (100 MB a file, 2,000 MB a batch): 25 x 99 MB streamed without a
    Content-Length go to disk a chunk at a time; at the batch's limit the call is TOO_LARGE,
    the downloads still under way stop, and nothing received stays."""
    config = daemon_config(dev_env, tmp_path)
    process, _, https_port = start(config, dev_env, origin=docsys.url)
    try:
        started, served = len(docsys.requests), docsys.generated_bytes
        frame = sign_files_frame(docsys, [f"{docsys.url}/generated/{99 * MB}?n={n}" for n in range(25)])
        reply = vgca_at(https_port, tmp_path / "tls" / "ca.pem", "SignFiles", frame, origin=docsys.url)
        peak = peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(30)
    assert (reply["Status"], reply["Code"]) == (14, "TOO_LARGE"), reply
    downloads = [r for r in docsys.requests[started:] if r.startswith("GET /generated/")]
    assert len(downloads) < 25, "refused at the limit, not after every download"
    assert docsys.generated_bytes - served >= 2000 * MB - 4 * 99 * MB, "refused for its size as it arrived"
    assert peak < 300, f"the daemon's peak RSS was {peak:.0f} MB"
    assert documents_in(tmp_path / "state") == []
    assert not any(docsys.uploads), "nothing signed, nothing uploaded"


def test_a_file_over_the_per_file_limit_fails_alone(dev_env: DevEnv, docsys: DocumentSystem, tmp_path: Path) -> None:
    """A declared size over ``transfer_max_mb`` is refused unread, an undeclared one as it
    arrives; the batch signs the others, and no partial file stays."""
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(docsys.url,), pregranted=(docsys.url,),
                       unattended=(docsys.url,), limits={"transfer_max_mb": 1}) as daemon:
        before = len(docsys.uploads)
        reply = vgca(daemon, "SignFiles", sign_files_frame(docsys, [
            f"{docsys.url}/generated/{2 * MB}?declare=1",
            f"{docsys.url}/generated/{3 * MB}",
            f"{docsys.url}/download/libreoffice.pdf",
        ]), origin=docsys.url)
        assert [(f["FileID"], f["Status"]) for f in reply["Files"]] == [(0, 14), (1, 14), (2, 0)], reply
        assert [u.fields["FileID"] for u in docsys.uploads[before:]] == ["2"]
        assert documents_in(daemon.settings.server.state_dir) == []


@pytest.fixture(scope="module")
def daemon(dev_env: DevEnv, docsys: DocumentSystem, tmp_path_factory: pytest.TempPathFactory):
    """The default retention (a day), swept every fifth of a second."""
    pages = (REFUSING_PAGE, ASKING_PAGE, SIGNING_PAGE, docsys.url)
    with RunningDaemon(dev_env.signer_config, tmp_path_factory.mktemp("disk"), allow_origins=pages,
                       pregranted=(SIGNING_PAGE, docsys.url), unattended=(SIGNING_PAGE, docsys.url),
                       consent_timeout_s=60, limits={"retention_sweep_s": 0.2}) as running:
        yield running


class Unanswered:
    """The companion's dialogs as an official who has not answered yet."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.shown = threading.Event()

    def open(self, bridge) -> None:
        self.opened.append(bridge.kind)
        self.shown.set()

    def close(self, bridge) -> None:
        pass


def pdfs(count: int) -> list[tuple[str, bytes]]:
    return [(f"{n}.pdf", (DOCUMENTS / "libreoffice.pdf").read_bytes()) for n in range(count)]


def test_a_refused_batch_leaves_no_document_and_cannot_be_resumed(daemon: RunningDaemon) -> None:
    page = {"Origin": REFUSING_PAGE}
    batch_id = create(daemon.url, pdfs(3), page)  # no companion to ask: refused
    status = wait_final(daemon.url, batch_id, page)
    assert {(i["state"], i["error"]) for i in status["items"]} == {("failed", "CONSENT_DENIED")}
    assert not (daemon.settings.server.state_dir / "batches" / batch_id).exists()
    assert documents_in(daemon.settings.server.state_dir) == []
    again = call("POST", f"{daemon.url}/v1/batches/{batch_id}/resume", headers=page)
    assert (again.status, again.code) == (400, "BAD_REQUEST")


def test_a_batch_cancelled_while_the_official_is_asked_is_deleted_at_once(daemon: RunningDaemon) -> None:
    page = {"Origin": ASKING_PAGE}
    dialogs = Unanswered()
    core = TrayCore(daemon.settings.server.state_dir, dialogs)
    core.start()
    try:
        assert core.connected.wait(10), core.error
        batch_id = create(daemon.url, pdfs(3), page)
        assert dialogs.shown.wait(30), "the consent dialog is up"
        reply = call("DELETE", f"{daemon.url}/v1/batches/{batch_id}", headers=page)
        assert reply.status == 202
        status = wait_final(daemon.url, batch_id, page)
    finally:
        core.stop()
    assert dialogs.opened == ["consent"], "nothing else was asked"
    assert {i["state"] for i in status["items"]} == {"cancelled"}
    assert not (daemon.settings.server.state_dir / "batches" / batch_id).exists()
    assert documents_in(daemon.settings.server.state_dir) == []
    assert not {"_login", "_sign_if_ready", "_sign_on_worker"} & set(daemon.token_functions)


def test_sign_files_leaves_no_document(daemon: RunningDaemon, docsys: DocumentSystem) -> None:
    before = len(docsys.uploads)
    reply = vgca(daemon, "SignFiles", sign_files_frame(docsys, [f"{docsys.url}/download/libreoffice.pdf",
                                                                f"{docsys.url}/download/pdflatex.pdf"]),
                 origin=docsys.url)
    assert reply["Status"] == 0, reply
    assert len(docsys.uploads) == before + 2
    assert documents_in(daemon.settings.server.state_dir) == []


def test_signed_documents_are_kept_until_fetched_then_swept(daemon: RunningDaemon) -> None:
    page = {"Origin": SIGNING_PAGE}
    batch_id = create(daemon.url, pdfs(3), page)
    status = wait_final(daemon.url, batch_id, page)
    assert status["state"] == "done" and status["expires"]
    folder = daemon.settings.server.state_dir / "batches" / batch_id
    assert not list((folder / "inputs").iterdir()), "inputs go as their items settle"
    assert sorted(p.name for p in (folder / "outputs").iterdir()) == ["0.pdf", "1.pdf", "2.pdf"]
    first = call("GET", f"{daemon.url}/v1/batches/{batch_id}/items/0", headers=page)
    assert first.status == 200 and first.body.startswith(b"%PDF")
    assert call("GET", f"{daemon.url}/v1/batches/{batch_id}", headers=page).json()["items"][0]["fetched"] is True
    wait_until(lambda: not (folder / "outputs" / "0.pdf").exists(), "the fetched document is swept")
    gone = call("GET", f"{daemon.url}/v1/batches/{batch_id}/items/0", headers=page)
    assert (gone.status, gone.code) == (404, "NOT_FOUND")
    for index in (1, 2):  # not fetched yet: still there
        assert call("GET", f"{daemon.url}/v1/batches/{batch_id}/items/{index}", headers=page).status == 200
    wait_until(lambda: not folder.exists(), "the batch's folder goes with its last fetched document")
    assert call("GET", f"{daemon.url}/v1/batches/{batch_id}", headers=page).json()["state"] == "done"


def test_signed_documents_are_gone_after_the_retention(dev_env: DevEnv, tmp_path: Path) -> None:
    """A retention of two seconds, swept every fifth of a second: nothing is fetched, and the
    batch goes with its signed documents."""
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(SIGNING_PAGE,), pregranted=(SIGNING_PAGE,),
                       unattended=(SIGNING_PAGE,),
                       limits={"output_retention_h": 2 / 3600, "retention_sweep_s": 0.2}) as daemon:
        page = {"Origin": SIGNING_PAGE}
        batch_id = create(daemon.url, pdfs(3), page)
        final = events(daemon.url, batch_id, page, lambda event: None)[-1]
        assert (final["event"], final["state"], final["done"]) == ("batch", "done", 3)
        wait_until(lambda: call("GET", f"{daemon.url}/v1/batches/{batch_id}", headers=page).status == 404,
                   "the batch expires")
        assert not (daemon.settings.server.state_dir / "batches" / batch_id).exists()
        assert documents_in(daemon.settings.server.state_dir) == []


def test_what_the_daemon_finds_at_start(dev_env: DevEnv, tmp_path: Path) -> None:
    """A SignFiles batch cut by a stop goes (its page is gone); a batch that ended before
    batches expired starts its retention; a folder the daemon does not know goes when nothing
    in it changed for longer than the retention (received before a crash) and stays while
    fresh (a command's batch being received)."""
    batches = tmp_path / "state" / "batches"
    journal = Journal(batches)
    for batch in (Batch("sign-files", SIGNING_PAGE, {}, [Item(0, "a.pdf", "ab" * 32, 9)], RUNNING, transient=True),
                  Batch("older", SIGNING_PAGE, {}, [Item(0, "b.pdf", "cd" * 32, 9, SIGNED)], DONE)):
        journal.prepare(batch.id)
        journal.input(batch.id, 0).write_bytes(b"%PDF-1.7 received")
        journal.save(batch)
    journal.output("older", 0).write_bytes(b"%PDF-1.7 signed")
    for name in ("left-over", "being-received"):
        (batches / name / "inputs").mkdir(parents=True)
        (batches / name / "inputs" / "0.pdf").write_bytes(b"%PDF-1.7 received")
    two_days_ago = time.time() - 2 * 86400
    for path in [*(batches / "left-over").rglob("*"), batches / "left-over"]:
        os.utime(path, (two_days_ago, two_days_ago))
    with RunningDaemon(dev_env.signer_config, tmp_path) as daemon:
        assert sorted(documents_in(daemon.settings.server.state_dir)) == [
            batches / "being-received" / "inputs" / "0.pdf", journal.output("older", 0)]
        assert sorted(p.name for p in batches.iterdir()) == ["being-received", "older"]
        assert daemon.daemon.signing.batches.get("older").expires, "its retention runs from now"


HOSTILE_METADATA = {
    "crlf-in-value": [{"Key": "DocumentID", "Value": "VB-45\r\nX-Injected: 1"}],
    "lf-in-key": [{"Key": "Document\nID", "Value": "VB-45"}],
    "nul": [{"Key": "DocumentID", "Value": "VB\x0045"}],
    "list-value": [{"Key": "DocumentID", "Value": ["VB", 45]}],
    "object-value": [{"Key": "DocumentID", "Value": {"So": 45}}],
    "number-key": [{"Key": 45, "Value": "VB-45"}],
    "too-long": [{"Key": "DocumentID", "Value": "x" * 10000}],
    "too-many": [{"Key": f"K{n}", "Value": "v"} for n in range(65)],
    "not-a-list": {"Key": "DocumentID", "Value": "VB-45"},
    "the-file-field": [{"Key": "uploadfile", "Value": "x"}],
    "the-file-field-in-capitals": [{"Key": "UploadFile", "Value": "x"}],
}


def token_work(daemon: RunningDaemon, since: int) -> list[str]:
    """The token calls since the ``since``-th but logouts (a companion leaving, at the end of
    an earlier test, logs the tokens out when it likes)."""
    return [name for name in daemon.token_functions[since:] if name != "_logout_all"]


@pytest.fixture(scope="module")
def asking(dev_env: DevEnv, docsys: DocumentSystem, tmp_path_factory: pytest.TempPathFactory):
    """A daemon whose every signature from the document system's page would ask the official."""
    folder = tmp_path_factory.mktemp("asking")
    with RunningDaemon(dev_env.signer_config, folder, allow_origins=(docsys.url,)) as running:
        yield running


@pytest.mark.parametrize("path", ["SignApproved", "SignFiles"])
@pytest.mark.parametrize("kind", sorted(HOSTILE_METADATA))
def test_hostile_metadata_is_refused_before_anything_is_asked(kind: str, path: str, asking: RunningDaemon,
                                                               docsys: DocumentSystem) -> None:
    daemon = asking
    with answering_companion(daemon.settings.server.state_dir) as core:
        asked: list = []
        core.dialogs.open = lambda bridge, shown=core.dialogs.open: (asked.append(bridge), shown(bridge))
        requests_before, uploads_before, calls_before = len(docsys.requests), len(docsys.uploads), daemon.token_calls
        if path == "SignFiles":
            frame = sign_files_frame(docsys, [f"{docsys.url}/download/libreoffice.pdf"],
                                     MetaData=HOSTILE_METADATA[kind])
        else:
            frame = document_frame(docsys, MetaData=HOSTILE_METADATA[kind])
        reply = vgca(daemon, path, frame, origin=docsys.url)
        assert (reply["Status"], reply["Code"]) == (2, "BAD_REQUEST"), reply
        assert asked == [], "no dialog"
        assert token_work(daemon, calls_before) == [], "no PIN, no token"
        assert docsys.requests[requests_before:] == [], "nothing downloaded"
        assert len(docsys.uploads) == uploads_before
        assert documents_in(daemon.settings.server.state_dir) == []


def test_sign_files_refuses_a_metadata_key_that_would_replace_the_file_id(asking: RunningDaemon,
                                                                        docsys: DocumentSystem) -> None:
    """The upload's ``FileID`` is the call's own: a MetaData ``FileID`` (in any case) is
    BAD_REQUEST before anything is downloaded or asked, not a silent replacement."""
    requests_before, calls_before = len(docsys.requests), asking.token_calls
    for key in ("FileID", "fileid"):
        frame = sign_files_frame(docsys, [f"{docsys.url}/download/libreoffice.pdf"],
                                 MetaData=[{"Key": key, "Value": "someone-else's"}])
        reply = vgca(asking, "SignFiles", frame, origin=docsys.url)
        assert (reply["Status"], reply["Code"]) == (2, "BAD_REQUEST"), reply
    assert docsys.requests[requests_before:] == [] and token_work(asking, calls_before) == []


LENIENT_METADATA = [{"Key": "DocumentID", "Value": 45, "Note": "an integrator's extra key"},
                    {"Key": "Ratio", "Value": 1.5}, {"Key": "Final", "Value": True}, {"Key": "Empty", "Value": None},
                    {"Key": "FileID", "Value": "VB-45"}]


@pytest.mark.parametrize("path", ["SignApproved", "SignFiles"])
def test_metadata_numbers_booleans_and_extra_keys_reach_the_upload_as_text(path: str, daemon: RunningDaemon,
                                                                           docsys: DocumentSystem) -> None:
    """As before MetaData was checked: a number or boolean value is sent as its text, an
    entry's other keys are ignored; a ``FileID`` key is the document's own for a single
    document (SignFiles refuses it: see above)."""
    before = len(docsys.uploads)
    if path == "SignFiles":
        metadata = LENIENT_METADATA[:-1]
        frame = sign_files_frame(docsys, [f"{docsys.url}/download/libreoffice.pdf"], MetaData=metadata)
    else:
        metadata = LENIENT_METADATA
        frame = document_frame(docsys, MetaData=metadata)
    reply = vgca(daemon, path, frame, origin=docsys.url)
    assert reply["Status"] == 0, reply
    [upload] = docsys.uploads[before:]
    expected = {"DocumentID": "45", "Ratio": "1.5", "Final": "True", "Empty": ""}
    if path == "SignFiles":
        expected["FileID"] = "0"
    else:
        expected["FileID"] = "VB-45"
    assert upload.fields == expected


def test_a_pages_documents_awaiting_consent_share_one_quota(dev_env: DevEnv, docsys: DocumentSystem,
                                                            tmp_path: Path) -> None:
    """``batch_max_mb`` bounds all of one page's documents on disk before consent, not each
    call's: while a SignFiles call of 48 KB waits for the official, a second SignFiles of
    18 KB and a POST /v1/batches of 18 KB from the same page are TOO_LARGE (60 KB in all);
    once the first is consented and done, the same call goes through."""
    small, large = (DOCUMENTS / "libreoffice.pdf").stat().st_size, (DOCUMENTS / "pdflatex.pdf").stat().st_size
    limit_mb = 0.06
    assert small + large <= limit_mb * MB < 2 * small + large
    with RunningDaemon(dev_env.signer_config, tmp_path, allow_origins=(docsys.url,),
                       limits={"batch_max_mb": limit_mb}) as daemon:
        official, asked = threading.Event(), threading.Event()
        with answering_companion(daemon.settings.server.state_dir, gate=official, opened=asked):
            before = len(docsys.uploads)
            first: dict = {}
            waiting = threading.Thread(target=lambda: first.update(vgca(daemon, "SignFiles", sign_files_frame(
                docsys, [f"{docsys.url}/download/libreoffice.pdf", f"{docsys.url}/download/pdflatex.pdf"]),
                origin=docsys.url)))
            waiting.start()
            try:
                assert asked.wait(60), "the first call's consent dialog is up"
                second = vgca(daemon, "SignFiles", sign_files_frame(
                    docsys, [f"{docsys.url}/download/libreoffice.pdf"]), origin=docsys.url)
                body, content_type = batch_body(pdfs(1))
                upload = call("POST", f"{daemon.url}/v1/batches", body=body,
                              headers={"Origin": docsys.url, "Content-Type": content_type})
                awaiting = sorted(p.stat().st_size for p in documents_in(daemon.settings.server.state_dir))
            finally:
                official.set()
                waiting.join(120)
            assert (second["Status"], second["Code"]) == (14, "TOO_LARGE"), second
            assert (upload.status, upload.code) == (413, "TOO_LARGE"), upload.body
            assert awaiting == sorted([small, large]), "only the first call's documents are on disk"
            assert first["Status"] == 0, first
            assert [u.fields["FileID"] for u in docsys.uploads[before:]] == ["0", "1"]
            again = vgca(daemon, "SignFiles", sign_files_frame(docsys, [f"{docsys.url}/download/libreoffice.pdf"]),
                         origin=docsys.url)
            assert again["Status"] == 0, again
        assert documents_in(daemon.settings.server.state_dir) == []
