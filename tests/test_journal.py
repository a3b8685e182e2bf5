"""The batch journal on disk: ids, folders, a round trip through batch.json, damaged journals."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from signer.service.batches.journal import (
    CANCELLED,
    FAILED,
    PENDING,
    RUNNING,
    SIGNED,
    Batch,
    Item,
    Journal,
)


def sample(batch_id: str) -> Batch:
    return Batch(id=batch_id, origin="https://qlvb.hanoi.example.gov.vn", options={"profile": "approved"},
                 items=[Item(0, "Quyết định số 12.pdf", "ab" * 32, 1200, state=SIGNED, pages=2),
                        Item(1, "Tờ trình.pdf", "cd" * 32, 800, state=FAILED, error="DOCUMENT_INVALID"),
                        Item(2, "Phụ lục.pdf", "ef" * 32, 400)],
                 state=RUNNING)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ids_are_new_each_time_and_safe_as_folder_names(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    ids = {journal.new_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{24}", i) for i in ids), ids  # 18 random bytes, URL-safe base64


def test_inputs_and_outputs_live_in_the_batchs_own_folder(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "batches")
    assert journal.folder("b1") == tmp_path / "batches/b1"
    assert journal.input("b1", 3) == tmp_path / "batches/b1/inputs/3.pdf"
    assert journal.output("b1", 3) == tmp_path / "batches/b1/outputs/3.pdf"
    journal.prepare("b1")
    journal.prepare("b1")  # again, as a resumed batch would: no error
    assert mode(journal.input("b1", 0).parent) == 0o700
    assert mode(journal.output("b1", 0).parent) == 0o700


def test_a_saved_batch_loads_back_equal(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    batch = sample("b1")
    journal.prepare(batch.id)
    journal.save(batch)
    path = journal.folder(batch.id) / "batch.json"
    assert mode(path) == 0o600
    assert "Quyết định số 12.pdf" in path.read_text("utf-8"), "names are kept readable, not escaped"
    assert journal.load_all() == [batch]
    files = [p.name for p in journal.folder(batch.id).iterdir() if p.is_file()]
    assert files == ["batch.json"], "no temporary file left"


def test_saving_again_replaces_the_whole_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    batch = sample("b1")
    journal.prepare(batch.id)
    journal.save(batch)
    batch.items = batch.items[:1]
    batch.state = CANCELLED
    journal.save(batch)
    (loaded,) = journal.load_all()
    assert loaded.state == CANCELLED and len(loaded.items) == 1


def test_every_batch_comes_back_in_id_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for batch_id in ("c", "a", "b"):
        journal.prepare(batch_id)
        journal.save(sample(batch_id))
    assert [b.id for b in journal.load_all()] == ["a", "b", "c"]


def test_no_journal_folder_yet_means_no_batches(tmp_path: Path) -> None:
    assert Journal(tmp_path / "absent").load_all() == []


@pytest.mark.parametrize("damage", [
    b'{"id": "broken", "items": [',  # cut short (a damaged disk)
    b"\xff\xfe not text",
    b'["a", "list"]',
    b'{"id": "broken", "origin": null, "options": {}}',  # no items
    b'{"id": "broken", "origin": null, "options": {}, "items": [{"index": 0}]}',  # an item without its fields
    b'{"id": "broken", "origin": null, "options": {}, "items": [], "colour": "red"}',  # a field Batch lacks
], ids=["truncated", "not-utf8", "not-an-object", "no-items", "short-item", "unknown-field"])
def test_a_damaged_journal_is_skipped_and_left_alone(tmp_path: Path, damage: bytes) -> None:
    journal = Journal(tmp_path)
    good = sample("good")
    journal.prepare(good.id)
    journal.save(good)
    journal.prepare("broken")
    (journal.folder("broken") / "batch.json").write_bytes(damage)
    assert journal.load_all() == [good]
    assert (journal.folder("broken") / "batch.json").read_bytes() == damage


def test_discard_removes_the_batch_and_its_files(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    batch = sample("b1")
    journal.prepare(batch.id)
    journal.input(batch.id, 0).write_bytes(b"%PDF-1.7")
    journal.save(batch)
    journal.discard(batch.id)
    assert not journal.folder(batch.id).exists()
    assert journal.load_all() == []
    journal.discard(batch.id)  # already gone: nothing to do


def test_summary_counts_signed_and_failed_items() -> None:
    summary = sample("b1").summary()
    assert (summary["state"], summary["total"], summary["done"], summary["failed"]) == (RUNNING, 3, 1, 1)
    assert [i["state"] for i in summary["items"]] == [SIGNED, FAILED, PENDING]
    assert summary["items"][1]["error"] == "DOCUMENT_INVALID"


def test_a_journal_written_before_retention_loads_with_nothing_fetched_and_no_expiry(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.prepare("old")
    (journal.folder("old") / "batch.json").write_text(
        '{"id": "old", "origin": null, "options": {}, "state": "done", "created": "2026-01-02T03:04:05+00:00",'
        ' "items": [{"index": 0, "name": "a.pdf", "sha256": "ab", "size": 3, "state": "signed"}]}')
    (loaded,) = journal.load_all()
    assert (loaded.transient, loaded.expires, loaded.items[0].fetched) == (False, None, False)


def test_documents_are_dropped_one_by_one_and_folders_listed(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.prepare("b1")
    for path in (journal.input("b1", 0), journal.output("b1", 0), journal.received("b1", 7)):
        path.write_bytes(b"%PDF-1.7")
    assert journal.received("b1", 7) == tmp_path / "b1/inputs/received-7.pdf"
    journal.drop_input("b1", 0)
    journal.drop_output("b1", 0)
    journal.drop_input("b1", 0)  # already gone: nothing to do
    assert not journal.input("b1", 0).exists() and not journal.output("b1", 0).exists()
    assert journal.last_change("b1") >= journal.received("b1", 7).stat().st_mtime
    (tmp_path / "not-a-batch.txt").write_text("")
    assert journal.on_disk() == ["b1"]
    assert Journal(tmp_path / "absent").on_disk() == []
