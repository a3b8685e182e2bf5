"""VGCA SignFiles: a batch on the batch engine. The files are downloaded in parallel straight
into the batch's folder, under the per-file limit and the caller's quota as bytes arrive
(``batch_max_mb`` for all the page's documents not yet consented, whatever call or batch they
came in: beyond it the call is TOO_LARGE before anything is asked); then one consent, one login
and one token-queue place for all; each signed file is uploaded from disk as soon as it is
ready; one audit line per file; a per-file status. The batch is deleted when the call ends."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ..errors import Code, SignerError, os_reason_vi
from ..service.batches.journal import Batch
from ..service.trail import record
from . import status
from .call import Call, credentials, frame_object, metadata, plain_text
from .documents import whole
from .transfer import Credentials, Transfers, check_url

TEXT_CHARS = 2048  # a file entry's URL, name or id


@dataclass(frozen=True)
class FileEntry:
    """One of the page's ``Files``, read before anything is asked."""

    file_id: Any  # given back to the page as it came (a number or a string)
    name: str
    url: str
    fields: dict[str, str]  # the upload's form fields: FileID and the entry's MetaData


@dataclass(frozen=True)
class Received:
    position: int  # in the page's Files
    entry: FileEntry
    filename: str  # the entry's name, else the document system's


async def sign_files(call: Call, frame: str) -> dict[str, Any]:
    request = frame_object(frame)
    handler = request.get("FileUploadHandler")
    files = request.get("Files")
    if not handler or not isinstance(files, list) or not files or not all(isinstance(f, dict) for f in files):
        raise SignerError(Code.BAD_REQUEST, "FileUploadHandler and a non-empty Files list are required",
                          vi="cần có FileUploadHandler và danh sách Files không rỗng")
    handler = plain_text(handler, "FileUploadHandler", TEXT_CHARS)
    limits, batches = call.parts.limits, call.parts.batches
    if len(files) > limits.batch_max_files:
        raise SignerError(Code.TOO_LARGE, f"{len(files)} files", limit_mb="-")
    entries = [_entry(f) for f in files]
    given = credentials(request)
    results: dict[int, dict[str, Any]] = {}
    async with call.transfers() as transfers:
        for url in [handler, *(e.url for e in entries)]:
            check_url(url, transfers.allowed_hosts)
        batch = batches.begin(call.caller, {"profile": "plain", "cert": call.certificate_for("plain") or ""},
                              transient=True)
        try:
            gate = asyncio.Semaphore(limits.parallel_transfers)
            received = await _receive_all(call, transfers, gate, given, batch, entries, results)
            if received:
                batches.start(batch)
                await _sign_and_upload(call, transfers, gate, given, handler, batch, received, results)
        finally:
            batches.drop(batch)  # nothing of the call stays on disk
    ordered = [results[i] for i in range(len(entries))]
    failed = [r for r in ordered if r["Status"] != status.OK]
    if failed:
        call.caller.outcome = "BATCH_INCOMPLETE"
        return {"Status": status.OTHER, "Message": f"{len(failed)}/{len(ordered)} tệp chưa ký được",
                "Code": "BATCH_INCOMPLETE", "Files": ordered}
    return status.success(Files=ordered)


def _entry(entry: dict) -> FileEntry:
    file_id = entry.get("FileID")
    if isinstance(file_id, bool) or not isinstance(file_id, str | int | None):
        raise SignerError(Code.BAD_REQUEST, "FileID must be a string or a number",
                          vi="FileID phải là chuỗi ký tự hoặc số")
    name = plain_text(entry.get("FileName") or "", "FileName", TEXT_CHARS)
    url = plain_text(entry.get("URL") or name, "URL", TEXT_CHARS)
    fields = {"FileID": plain_text(str(file_id), "FileID", TEXT_CHARS),
              **metadata(entry, reserved=("uploadfile", "FileID"))}
    return FileEntry(file_id=file_id, name=name, url=url, fields=fields)


async def _receive_all(call: Call, transfers: Transfers, gate: asyncio.Semaphore, given: Credentials, batch: Batch,
                       entries: list[FileEntry], results: dict[int, dict[str, Any]]) -> dict[int, Received]:
    """Every file downloaded into the batch, by batch index; a file that fails gets its result
    and audit line; a batch over its caller's quota is TOO_LARGE for the whole call (the other
    downloads stop, their partial files deleted)."""
    batches = call.parts.batches
    quota = batches.intake.share(batch)
    received: dict[int, Received] = {}

    async def receive(position: int, entry: FileEntry) -> None:
        try:
            async with gate:
                got = await transfers.download(entry.url, given, batches.intake.receiving_into(batch, position), quota)
            filename = entry.name or got.filename
            index = batches.intake.add_received(batch, filename, got.path, got.sha256, got.size)
        except SignerError as error:
            if quota.exceeded:
                raise
            # a file that never reached the batch still gets its audit line
            record(call.parts.audit, None, f"VGCA {call.path} file", error.code, name=call.caller.name)
            results[position] = _file_result(entry, error)
            return
        received[index] = Received(position, entry, filename)

    tasks = [asyncio.ensure_future(receive(position, entry)) for position, entry in enumerate(entries)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return received


async def _sign_and_upload(call: Call, transfers: Transfers, gate: asyncio.Semaphore, given: Credentials,
                           handler: str, batch: Batch, received: dict[int, Received],
                           results: dict[int, dict[str, Any]]) -> None:
    uploads = []
    async for event in call.parts.batches.events(batch):
        if event["event"] != "item":
            continue
        index = event["index"]
        got = received[index]
        if event["state"] != "signed":
            failure = SignerError(Code(event["error"] or Code.SIGNING_FAILED))
            results[got.position] = _file_result(got.entry, failure)
            continue
        uploads.append(asyncio.ensure_future(_upload(call, transfers, gate, given, handler, batch, index, got,
                                                     results)))
    await asyncio.gather(*uploads)


async def _upload(call: Call, transfers: Transfers, gate: asyncio.Semaphore, given: Credentials, handler: str,
                  batch: Batch, index: int, got: Received, results: dict[int, dict[str, Any]]) -> None:
    batches = call.parts.batches
    try:
        async with gate:
            try:
                body = batches.output(batch, index).open("rb")
            except OSError as exc:
                raise SignerError(Code.FILE_UNREADABLE, f"item {index}: {exc.strerror or exc}",
                                  vi=f"văn bản {index}: {os_reason_vi(exc)}") from None
            with body:  # read a chunk at a time as it is sent
                uploaded = await whole(transfers.upload(handler, given, body, got.filename, got.entry.fields))
    except SignerError as error:
        results[got.position] = _file_result(got.entry, error)
        return
    batches.fetched(batch, index)
    repaired = status.repaired_note(batch.items[index].repaired_sha256 is not None)
    results[got.position] = {"FileID": got.entry.file_id, "Status": status.OK, "Message": repaired,
                             "FileName": uploaded.file_name, "FileServer": uploaded.file_server}


def _file_result(entry: FileEntry, error: SignerError) -> dict[str, Any]:
    return {"FileID": entry.file_id, "Status": status.status_for(error), "Message": error.message_vi,
            "FileName": entry.name, "FileServer": None}
