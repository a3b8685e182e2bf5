"""VGCA SignFiles: a batch on the batch engine. The files are downloaded in parallel into a
batch (one consent, one login and one token-queue place for all); each signed file is
uploaded as soon as it is ready; one audit line per file; a per-file status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ..errors import Code, SignerError
from ..service.trail import record
from . import status
from .call import Call, credentials, frame_object, metadata
from .documents import whole
from .transfer import Credentials, Downloaded, Transfers, check_url


async def sign_files(call: Call, frame: str) -> dict[str, Any]:
    request = frame_object(frame)
    handler = str(request.get("FileUploadHandler") or "")
    files = request.get("Files")
    if not handler or not isinstance(files, list) or not files or not all(isinstance(f, dict) for f in files):
        raise SignerError(Code.BAD_REQUEST, "FileUploadHandler and a non-empty Files list are required")
    limits, batches = call.parts.limits, call.parts.batches
    if len(files) > limits.batch_max_files:
        raise SignerError(Code.TOO_LARGE, f"{len(files)} files", limit_mb="-")
    given = credentials(request)
    results: dict[int, dict[str, Any]] = {}
    async with call.transfers() as transfers:
        for url in [handler, *(_file_url(f) for f in files)]:
            check_url(url, transfers.allowed_hosts)
        gate = asyncio.Semaphore(limits.parallel_transfers)
        batch = batches.begin(call.caller, {"profile": "plain", "cert": call.certificate_for("plain") or ""})
        started = False
        try:
            downloads = await asyncio.gather(*(_download(transfers, gate, given, f) for f in files))
            order = []  # position in Files of each batch item
            for position, (entry, downloaded) in enumerate(zip(files, downloads, strict=True)):
                if isinstance(downloaded, SignerError):
                    # a file that never reached the batch still gets its audit line
                    record(call.parts.audit, None, f"VGCA {call.path} file", downloaded.code, name=call.caller.name)
                    results[position] = _file_result(entry, downloaded)
                    continue
                await batches.add_document(batch, str(entry.get("FileName") or downloaded.filename),
                                           _one_chunk(downloaded.data))
                order.append((position, entry, downloaded))
            if order:
                batches.start(batch)
                started = True
                uploads = []
                async for event in batches.events(batch):
                    if event["event"] != "item":
                        continue
                    position, entry, downloaded = order[event["index"]]
                    if event["state"] != "signed":
                        failure = SignerError(Code(event["error"] or Code.SIGNING_FAILED))
                        results[position] = _file_result(entry, failure)
                        continue
                    signed = await batches.read_output(batch, event["index"])
                    uploads.append(asyncio.ensure_future(_upload(
                        transfers, gate, given, handler, entry, downloaded, signed, results, position)))
                await asyncio.gather(*uploads)
        finally:
            if not started:
                batches.discard(batch)
    ordered = [results[i] for i in range(len(files))]
    failed = [r for r in ordered if r["Status"] != status.OK]
    if failed:
        call.caller.outcome = "BATCH_INCOMPLETE"
        return {"Status": status.OTHER, "Message": f"{len(failed)}/{len(ordered)} tệp chưa ký được",
                "Code": "BATCH_INCOMPLETE", "Files": ordered}
    return status.success(Files=ordered)


def _file_url(entry: dict) -> str:
    return str(entry.get("URL") or entry.get("FileName") or "")


async def _download(transfers: Transfers, gate: asyncio.Semaphore, given: Credentials, entry: dict
                    ) -> Downloaded | SignerError:
    try:
        async with gate:
            return await transfers.download(_file_url(entry), given)
    except SignerError as error:
        return error


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _upload(transfers: Transfers, gate: asyncio.Semaphore, given: Credentials, handler: str, entry: dict,
                  downloaded: Downloaded, signed: bytes, results: dict, position: int) -> None:
    name = str(entry.get("FileName") or "")
    try:
        async with gate:
            uploaded = await whole(transfers.upload(handler, given, signed, name or downloaded.filename,
                                                    {"FileID": str(entry.get("FileID")), **metadata(entry)}))
    except SignerError as error:
        results[position] = _file_result(entry, error)
        return
    results[position] = {"FileID": entry.get("FileID"), "Status": status.OK, "Message": "",
                         "FileName": uploaded.file_name, "FileServer": uploaded.file_server}


def _file_result(entry: dict, error: SignerError) -> dict[str, Any]:
    return {"FileID": entry.get("FileID"), "Status": status.status_for(error), "Message": error.message_vi,
            "FileName": str(entry.get("FileName") or ""), "FileServer": None}
