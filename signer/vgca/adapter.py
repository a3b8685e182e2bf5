"""One function per VGCA path: the page's frame in, the reply dict out.

Document paths download the PDF from the page's document system, sign it with the
path's profile and upload it back; the others sign a digest, XML or JSON, verify,
or describe the certificate. Failures become a reply with a status (``status.py``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from cryptography import x509 as crypto_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from policies.profiles import copy_forms

from .. import __version__, operations
from ..api.caller import Caller
from ..daemon import Daemon
from ..engine import pdf, xml
from ..validation.report import averify_pdf
from ..errors import SignerError
from ..keys import SigningKey
from . import status
from .transfer import Credentials, Transfers, check_url

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
HASHES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
T = TypeVar("T")
log = structlog.get_logger(__name__)


@dataclass
class Call:
    daemon: Daemon
    caller: Caller
    path: str

    @property
    def origin(self) -> str:
        return self.caller.origin or ""

    def transfers(self) -> Transfers:
        limits = self.daemon.limits
        return Transfers(self.daemon.allowlist.document_hosts(self.origin), limits.transfer_max_bytes,
                         limits.transfer_timeout_s)

    def certificate_for(self, profile: str) -> str | None:
        return self.daemon.settings.vgca_certificates.get(profile)


async def handle(call: Call, frame: str) -> dict[str, Any]:
    handler = HANDLERS.get(call.path)
    if handler is None:
        return status.failure(SignerError("NOT_FOUND", f"/{call.path}"))
    try:
        return await handler(call, frame)
    except SignerError as error:
        return status.failure(error)
    except Exception:  # a bug must still give the page one well-formed reply
        log.exception("vgca_internal_error", path=call.path)
        return status.failure(SignerError("INTERNAL_ERROR", "see the daemon's log"))


# -- documents ---------------------------------------------------------------


async def sign_document(call: Call, frame: str) -> dict[str, Any]:
    request = _object(frame)
    source = str(request.get("FileName") or "")
    handler = str(request.get("FileUploadHandler") or "")
    if not source:
        raise SignerError("NOT_SUPPORTED", "choosing a local file needs the desktop companion")
    if not handler:
        raise SignerError("BAD_REQUEST", "FileUploadHandler is missing")
    profile = DOCUMENT_PROFILES[call.path]
    credentials = _credentials(request)
    async with call.transfers() as transfers:
        for url in (source, handler):
            check_url(url, transfers.allowed_hosts)  # refuse before any consent, token or network use
        # downloaded first (from the origin's own hosts): the consent dialog shows its digest
        downloaded = await transfers.download(source, credentials)
        options = pdf.PdfSignOptions(
            profile=profile,
            doc_number=str(request.get("DocNumber") or ""), issued_date=str(request.get("IssuedDate") or ""),
            copy_form=_copy_form(request), comment=str(request.get("Comment") or request.get("Content") or ""))
        signed = await operations.sign_pdf_for(
            call.daemon, call.caller, downloaded.data, options, call.certificate_for(profile))
        uploaded = await _whole(
            transfers.upload(handler, credentials, signed.data, downloaded.filename, _metadata(request)))
    return status.success(
        FileName=uploaded.file_name,
        FileServer=uploaded.file_server,
        DocumentNumber=str(request.get("DocNumber") or ""),
        DocumentDate=str(request.get("IssuedDate") or ""),
    )


async def sign_files(call: Call, frame: str) -> dict[str, Any]:
    """A batch on the batch engine: the files are downloaded in parallel into a batch (one
    consent, one login and one token-queue place for all), each signed file is uploaded as
    soon as it is ready; one audit line per file; a per-file status."""
    request = _object(frame)
    handler = str(request.get("FileUploadHandler") or "")
    files = request.get("Files")
    if not handler or not isinstance(files, list) or not files or not all(isinstance(f, dict) for f in files):
        raise SignerError("BAD_REQUEST", "FileUploadHandler and a non-empty Files list are required")
    daemon = call.daemon
    if len(files) > daemon.limits.batch_max_files:
        raise SignerError("TOO_LARGE", f"{len(files)} files", limit_mb="-")
    credentials = _credentials(request)
    results: dict[int, dict[str, Any]] = {}
    async with call.transfers() as transfers:
        for url in [handler, *(_file_url(f) for f in files)]:
            check_url(url, transfers.allowed_hosts)
        gate = asyncio.Semaphore(daemon.limits.parallel_transfers)
        manager = daemon.batches
        batch = manager.begin(call.caller, {"profile": "plain", "cert": call.certificate_for("plain") or ""})
        started = False
        try:
            downloads = await asyncio.gather(*(_download(transfers, gate, credentials, f) for f in files))
            order = []  # position in Files of each batch item
            for position, (entry, downloaded) in enumerate(zip(files, downloads, strict=True)):
                if isinstance(downloaded, SignerError):
                    _audit_file(call, {}, downloaded.code)
                    results[position] = _file_result(entry, downloaded)
                    continue
                await manager.add_document(batch, str(entry.get("FileName") or downloaded.filename),
                                           _one_chunk(downloaded.data))
                order.append((position, entry, downloaded))
            if order:
                manager.start(batch)
                started = True
                uploads = []
                async for event in manager.events(batch):
                    if event["event"] != "item":
                        continue
                    position, entry, downloaded = order[event["index"]]
                    if event["state"] != "signed":
                        results[position] = _file_result(entry, SignerError(event["error"] or "SIGNING_FAILED"))
                        continue
                    signed = manager.journal.output(batch.id, event["index"]).read_bytes()
                    uploads.append(asyncio.ensure_future(_upload(
                        transfers, gate, credentials, handler, request, entry, downloaded, signed, results, position)))
                await asyncio.gather(*uploads)
        finally:
            if not started:
                manager.discard(batch)
    ordered = [results[i] for i in range(len(files))]
    failed = [r for r in ordered if r["Status"] != status.OK]
    if failed:
        call.caller.outcome = "BATCH_INCOMPLETE"
        return {"Status": status.OTHER, "Message": f"{len(failed)}/{len(ordered)} tệp chưa ký được",
                "Code": "BATCH_INCOMPLETE", "Files": ordered}
    return status.success(Files=ordered)


def _file_url(entry: dict) -> str:
    return str(entry.get("URL") or entry.get("FileName") or "")


async def _download(transfers: Transfers, gate: asyncio.Semaphore, credentials: Credentials, entry: dict):
    try:
        async with gate:
            return await transfers.download(_file_url(entry), credentials)
    except SignerError as error:
        return error


async def _one_chunk(data: bytes):
    yield data


async def _upload(transfers: Transfers, gate: asyncio.Semaphore, credentials: Credentials, handler: str,
                  request: dict, entry: dict, downloaded, signed: bytes, results: dict, position: int) -> None:
    name = str(entry.get("FileName") or "")
    try:
        async with gate:
            uploaded = await _whole(transfers.upload(handler, credentials, signed, name or downloaded.filename,
                                                     {"FileID": str(entry.get("FileID")), **_metadata(entry)}))
    except SignerError as error:
        results[position] = _file_result(entry, error)
        return
    results[position] = {"FileID": entry.get("FileID"), "Status": status.OK, "Message": "",
                         "FileName": uploaded.file_name, "FileServer": uploaded.file_server}


def _file_result(entry: dict, error: SignerError) -> dict[str, Any]:
    return {"FileID": entry.get("FileID"), "Status": status.status_for(error), "Message": error.message_vi,
            "FileName": str(entry.get("FileName") or ""), "FileServer": None}


def _audit_file(call: Call, facts: dict[str, Any], result: str) -> None:
    """A file that never reached the batch (its download failed) still gets its audit line."""
    call.daemon.audit.record(origin=call.caller.name, operation=f"VGCA {call.path} file", result=result, **facts)


async def verify_document(call: Call, frame: str) -> dict[str, Any]:
    request = _object(frame)
    if request.get("Base64Content"):
        data = _base64(request["Base64Content"], "Base64Content")
    else:
        source = str(request.get("FileName") or request.get("URL") or "")
        if not source:
            raise SignerError("BAD_REQUEST", "FileName (URL) or Base64Content is required")
        async with call.transfers() as transfers:
            data = (await transfers.download(source, _credentials(request))).data
    keys = call.daemon.keys
    reports = await averify_pdf(data, keys.anchors, keys.intermediates,
                                timeout_s=call.daemon.settings.revocation.policy.timeout_s)
    signatures = [{"SignerName": r.signer, "SignerSubject": r.signer_subject, "SigningTime": r.signing_time,
                   "Intact": r.intact, "Valid": r.valid, "Trusted": r.trusted, "Coverage": r.coverage, "Level": r.level, "Indication": r.indication,
                   "Passed": r.passed} for r in reports]
    return status.success(Signatures=signatures, Passed=bool(reports) and all(r.passed for r in reports))


# -- digests, XML, JSON --------------------------------------------------------


async def sign_message(call: Call, frame: str) -> dict[str, Any]:
    request = _object(frame)
    algorithm = str(request.get("HashAlg") or "SHA256").lower().replace("-", "")
    value = _base64(request.get("HashValue"), "HashValue")
    signature, key = await operations.sign_hash_for(call.daemon, call.caller, value, algorithm, None)
    return status.success(Signature=base64.b64encode(signature).decode(),
                          CertBase64=base64.b64encode(key.certificate.dump()).decode())


async def verify_message(call: Call, frame: str) -> dict[str, Any]:
    """Check a signature over a digest against the given certificate (no token needed)."""
    request = _object(frame)
    algorithm = str(request.get("HashAlg") or "SHA256").lower().replace("-", "")
    if algorithm not in HASHES or algorithm == "sha1":
        raise SignerError("BAD_REQUEST", f"unsupported HashAlg {algorithm}")
    value = _base64(request.get("HashValue"), "HashValue")
    signature = _base64(request.get("Signature"), "Signature")
    try:
        certificate = crypto_x509.load_der_x509_certificate(_base64(request.get("CertBase64"), "CertBase64"))
    except ValueError:
        raise SignerError("BAD_REQUEST", "CertBase64 is not a certificate") from None
    chosen = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[algorithm]
    public_key = certificate.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, value, padding.PKCS1v15(), Prehashed(chosen))
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, value, ec.ECDSA(Prehashed(chosen)))
        else:
            raise SignerError("NOT_SUPPORTED", "key type")
        valid = True
    except (InvalidSignature, ValueError):
        valid = False
    return status.success(Valid=valid, Signer=certificate.subject.rfc4514_string())


async def sign_xml(call: Call, frame: str) -> dict[str, Any]:
    request = _object(frame)
    data = _base64(request.get("Base64Content"), "Base64Content")
    only = str(request.get("ReturnSignatureOnly") or "false").lower() == "true"
    await asyncio.to_thread(xml.parse_document, data)  # refuse bad XML before consent or the token

    async def sign(key: SigningKey) -> xml.XmlSignature:
        # canonicalisation of a large document must not stall the event loop
        return await asyncio.to_thread(asyncio.run, xml.sign_xml(data, key, signature_only=only))

    signed = await _with_key(call, data, "sign", sign)
    return status.success(Signature=base64.b64encode(signed.xml).decode())


async def verify_xml(call: Call, frame: str) -> dict[str, Any]:
    request = _object(frame)
    data = _base64(request.get("Data"), "Data")
    keys = call.daemon.keys
    reports = await asyncio.to_thread(xml.verify_xml, data, keys.anchors, keys.intermediates)
    return [{  # this path answers a bare array, as the official service does
        "SigInfo": {"SignerCert": {"Subject": r.signer_subject, "CommonName": r.signer,
                                   "CertBase64": base64.b64encode(r.certificate_der).decode()}},
        "ValidationDetails": {"SignerCertStatus": {
            "Status": status.OK if r.passed else 1,
            "Description": "Chữ ký hợp lệ" if r.passed else
            ("Chữ ký không đúng" if not (r.intact and r.valid) else "Chứng thư số không được tin cậy")}},
    } for r in reports]  # type: ignore[return-value]


async def sign_json(call: Call, frame: str) -> dict[str, Any]:
    """A detached CMS over the JSON content's UTF-8 text."""
    request = _object(frame)
    content = request.get("JsonContent")
    if content is None:
        raise SignerError("BAD_REQUEST", "JsonContent is required")
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    signature = await operations.sign_cms_for(call.daemon, call.caller, text.encode("utf-8"), None)
    return status.success(Signature=base64.b64encode(signature.der).decode())


async def authenticate(call: Call, frame: str) -> dict[str, Any]:
    """Proof of the certificate holder: a CMS signature over the page's challenge and origin."""
    request = _object(frame)
    challenge = str(request.get("Challenge") or request.get("Data") or request.get("Nonce") or "")
    if not challenge:
        raise SignerError("BAD_REQUEST", "a Challenge is required")
    statement = json.dumps({"origin": call.origin, "challenge": challenge}, ensure_ascii=False).encode()
    signature = await operations.sign_cms_for(call.daemon, call.caller, statement, None)
    return status.success(Signature=base64.b64encode(signature.der).decode(),
                          SignedData=base64.b64encode(statement).decode())


# -- literal frames ------------------------------------------------------------


async def certificate_info(call: Call, frame: str) -> dict[str, Any]:
    """The official's identity is not for any allowed page: it needs the origin's consent."""
    await operations.consent_to_identity(call.daemon, call.caller)
    key = await call.daemon.signing_key(None)
    cert = key.certificate
    return status.success(CertInfo={
        "Subject": cert.subject.human_friendly,
        "CommonName": cert.subject.native.get("common_name", ""),
        "Issuer": cert.issuer.human_friendly,
        "SerialNumber": format(cert.serial_number, "X"),
        "NotBefore": cert.not_valid_before.isoformat(),
        "NotAfter": cert.not_valid_after.isoformat(),
        "Base64Cert": base64.b64encode(cert.dump()).decode(),
    })


async def configuration(call: Call, frame: str) -> dict[str, Any]:
    """No settings window yet: the configuration summary."""
    daemon = call.daemon
    return status.success(Message="vn-token-signer " + __version__, Config={
        "Version": __version__,
        "Tokens": [t.label for t in await asyncio.to_thread(daemon.keys.tokens) if t.flags.initialized],
        "DefaultCertificate": daemon.settings.tokens.default_certificate,
    })


async def licence_request(call: Call, frame: str) -> dict[str, Any]:
    return status.success(Message="Phần mềm mã nguồn mở, không cần giấy phép. / Open source: no licence needed.")


async def office_not_supported(call: Call, frame: str) -> dict[str, Any]:
    raise SignerError("NOT_SUPPORTED", "Office (OOXML) documents")


HANDLERS: dict[str, Callable[[Call, str], Awaitable[Any]]] = {
    **{path: sign_document for path in DOCUMENT_PROFILES},
    "SignFiles": sign_files,
    "VerifyPDF": verify_document,
    "SignMsg": sign_message,
    "VerifyMsg": verify_message,
    "SignXML": sign_xml,
    "SignXMLP12": sign_xml,
    "VerifyXML": verify_xml,
    "SignJson": sign_json,
    "Auth": authenticate,
    "GetCertInfo": certificate_info,
    "Config": configuration,
    "GetLicenseRequest": licence_request,
    "SignOffice": office_not_supported,
    "VerifyOffice": office_not_supported,
}


# -- helpers -------------------------------------------------------------------


async def _with_key(call: Call, data: bytes, scope: str, sign: Callable[[SigningKey], Awaitable[Any]]) -> Any:
    """An engine call that needs the key, the way every signature gets it."""
    call.caller.audit.update(document_sha256=await asyncio.to_thread(_sha256, data), document_size=len(data))
    async with operations.signing(call.daemon, call.caller, scope, None) as key:
        return await sign(key)


def _object(frame: str) -> dict[str, Any]:
    try:
        value = json.loads(frame)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates cannot go anywhere
    except (ValueError, RecursionError, UnicodeEncodeError):
        raise SignerError("BAD_REQUEST", "the frame is not valid JSON text") from None
    if not isinstance(value, dict):
        raise SignerError("BAD_REQUEST", "the frame is not a JSON object")
    return value


async def _whole(upload: Awaitable[T]) -> T:
    """Once started, an upload ends whole even if the page goes away: never half a file."""
    task = asyncio.ensure_future(upload)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _base64(value: Any, name: str) -> bytes:
    try:
        return base64.b64decode(str(value or ""), validate=True)
    except (binascii.Error, ValueError):
        raise SignerError("BAD_REQUEST", f"{name} must be base64") from None


def _copy_form(request: dict[str, Any]) -> str:
    """One of the policy's copy forms (the first when unknown); pages name the field differently."""
    forms = copy_forms()
    value = str(request.get("CopyForm") or request.get("CopyType") or "").upper()
    return value if value in forms else forms[0]


def _credentials(request: dict[str, Any]) -> Credentials:
    credentials = Credentials(session_id=str(request.get("SessionId") or ""), jwt=str(request.get("JWTToken") or ""))
    for value in (credentials.session_id, credentials.jwt):
        if any(c in value for c in "\r\n\0;") or not value.isascii():
            raise SignerError("BAD_REQUEST", "SessionId and JWTToken must be plain ASCII tokens")
    return credentials


def _metadata(request: dict[str, Any]) -> dict[str, str]:
    entries = request.get("MetaData") or []
    if not isinstance(entries, list):
        return {}
    return {str(e["Key"]): str(e.get("Value", "")) for e in entries if isinstance(e, dict) and e.get("Key")}
