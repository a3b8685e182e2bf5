"""VGCA document paths: download the PDF from the page's document system, sign it with the
path's Decree 30 profile, upload it back; and verify a document."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

from ..errors import Code, SignerError
from ..service import verification
from ..service.options import from_vgca
from ..service.placing import placed_note
from . import status
from .call import Call, base64_field, credentials, frame_object, metadata
from .transfer import check_url

# path -> profile; the signature's reason is the profile's title. The visible blocks of
# each Decree 30 profile come with the appearance profiles; the name already selects the
# certificate ([vgca] certificates).
DOCUMENT_PROFILES: dict[str, str] = {
    "SignApproved": "approved",
    "SignIssued": "issued",
    "SignIncome": "income",
    "Comment": "comment",
    "SignAppendix": "appendix",
    "SignCopy": "copy",
    "SignFile": "plain",
    "SignPDF": "plain",
    "SignPDFWP": "plain",
}
T = TypeVar("T")


async def sign_document(call: Call, frame: str) -> dict[str, Any]:
    request = frame_object(frame)
    source = str(request.get("FileName") or "")
    handler = str(request.get("FileUploadHandler") or "")
    if not source:
        raise SignerError(Code.NOT_SUPPORTED, "choosing a local file needs the desktop companion",
                          vi="chọn tệp trên máy cần có ứng dụng khay")
    if not handler:
        raise SignerError(Code.BAD_REQUEST, "FileUploadHandler is missing", vi="thiếu FileUploadHandler")
    profile = DOCUMENT_PROFILES[call.path]
    given = credentials(request)
    fields = metadata(request)
    options = from_vgca(request, profile)
    async with call.transfers() as transfers:
        for url in (source, handler):
            check_url(url, transfers.allowed_hosts)  # refuse before any consent, token or network use
        # downloaded first (from the origin's own hosts): the consent dialog shows its digest. In
        # memory, within transfer_max_mb: the document is parsed in memory to be signed anyway
        downloaded = await transfers.fetch(source, given)
        signed = await call.parts.service.sign_pdf(call.caller, downloaded.data, options,
                                                   call.certificate_for(profile))
        uploaded = await whole(transfers.upload(handler, given, signed.data, downloaded.filename, fields))
    return status.success(
        Message=" ".join(note for note in (placed_note(signed.spot), status.repaired_note(signed.repaired))
                         if note),
        FileName=uploaded.file_name,
        FileServer=uploaded.file_server,
        DocumentNumber=options.doc_number,
        DocumentDate=options.issued_date,
    )


async def verify_document(call: Call, frame: str) -> dict[str, Any]:
    request = frame_object(frame)
    if request.get("Base64Content"):
        data = base64_field(request["Base64Content"], "Base64Content")
    else:
        source = str(request.get("FileName") or request.get("URL") or "")
        if not source:
            raise SignerError(Code.BAD_REQUEST, "FileName (URL) or Base64Content is required",
                              vi="cần có FileName (URL) hoặc Base64Content")
        async with call.transfers() as transfers:  # in memory, within transfer_max_mb, as Base64Content is
            data = (await transfers.fetch(source, credentials(request))).data
    parts = call.parts
    reports = await verification.verify_pdf(data, parts.trust, parts.service.documents, caller=call.caller.name,
                                            timeout_s=parts.settings.revocation.policy.timeout_s,
                                            policy=verification.fetch_policy(parts.settings, parts.trust, parts.limits))
    signatures = [{"SignerName": r.signer, "SignerSubject": r.signer_subject, "SigningTime": r.signing_time,
                   "Intact": r.intact, "Valid": r.valid, "Trusted": r.trusted, "Coverage": r.coverage,
                   "Level": r.level, "Indication": r.indication, "SubIndication": r.sub_indication,
                   "Details": r.details, "Fetching": r.fetching,
                   "Fetches": [{"Url": f.url, "Outcome": f.outcome, "Reason": f.reason} for f in r.fetches],
                   "RevocationSource": r.revocation_source, "OnlineFailure": r.online_failure,
                   "Passed": r.passed} for r in reports]
    return status.success(Signatures=signatures, Passed=bool(reports) and all(r.passed for r in reports))


async def whole(upload: Awaitable[T]) -> T:
    """Once started, an upload ends whole even if the page goes away: never half a file."""
    task = asyncio.ensure_future(upload)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise
