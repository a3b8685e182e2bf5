"""One function per VGCA path: the page's frame in, the reply out. Failures become a reply
with a status (``status.py``); the handlers live with what they handle (``documents``,
``files``, ``messages``) and the literal ones here."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

from .. import __version__
from ..errors import Code, SignerError
from ..logs import get_logger
from . import status
from .call import Call
from .documents import DOCUMENT_PROFILES, sign_document, verify_document
from .files import sign_files
from .messages import (
    authenticate,
    sign_json,
    sign_message,
    sign_xml,
    verify_message,
    verify_xml,
)

log = get_logger(__name__)


async def handle(call: Call, frame: str) -> dict[str, Any] | list[dict[str, Any]]:
    handler = HANDLERS.get(call.path)
    if handler is None:
        return status.failure(SignerError(Code.NOT_FOUND, f"/{call.path}", vi=f"/{call.path}"))
    try:
        return await handler(call, frame)
    except SignerError as error:
        return status.failure(error)
    except Exception:  # a bug must still give the page one well-formed reply
        log.exception("vgca_internal_error", path=call.path)
        return status.failure(SignerError(Code.INTERNAL_ERROR, "see the daemon's log",
                                          vi="xem nhật ký của dịch vụ ký số"))


async def certificate_info(call: Call, frame: str) -> dict[str, Any]:
    """The official's identity is not for any allowed page: it needs the origin's consent."""
    cert = (await call.parts.service.certificate(call.caller)).certificate
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
    """No settings window yet: the configuration summary. It names the official's tokens, so it
    needs the origin's consent as GetCertInfo does."""
    await call.parts.service.consent_to_identity(call.caller)
    tokens = await asyncio.to_thread(call.parts.keys.tokens)
    return status.success(Message="vn-token-signer " + __version__, Config={
        "Version": __version__,
        "Tokens": [t.label for t in tokens if t.flags.initialized],
        "DefaultCertificate": call.parts.settings.tokens.default_certificate,
    })


async def licence_request(call: Call, frame: str) -> dict[str, Any]:
    return status.success(Message="Phần mềm mã nguồn mở, không cần giấy phép. / Open source: no licence needed.")


async def office_not_supported(call: Call, frame: str) -> dict[str, Any]:
    raise SignerError(Code.NOT_SUPPORTED, "Office (OOXML) documents", vi="văn bản Office (OOXML)")


Handler = Callable[[Call, str], Awaitable[dict[str, Any] | list[dict[str, Any]]]]
HANDLERS: dict[str, Handler] = {
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
