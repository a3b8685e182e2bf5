"""The companion's enrolment requests, parsed and rendered: ``enroll_request`` (a key pair on
the token and its PKCS#10 request, as PEM) and ``enroll_import`` (the issued certificate, and
its chain, loaded next to the key). Only the companion's channel reaches them, never a page."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from ..errors import Code, SignerError
from ..keys.csr import Subject, encode_request
from ..keys.enrolment import parse_certificates
from ..service.enrolling import Enrolment

if TYPE_CHECKING:
    from asn1crypto import x509

# the form's fields, as the subject names them
SUBJECT_FIELDS = {"cn": "common_name", "title": "title", "o": "organization", "ou": "organizational_unit",
                  "l": "locality", "st": "state", "email": "email", "uid": "uid"}
MAX_CERTIFICATE_BYTES = 1 << 20  # a certificate and its chain are a few kilobytes


async def enroll_request(enrolment: Enrolment, data: dict) -> dict:
    subject = data.get("subject")
    if not isinstance(subject, dict):
        raise SignerError(Code.BAD_REQUEST, "the request needs its subject fields",
                          vi="yêu cầu thiếu thông tin người được cấp")
    fields = {SUBJECT_FIELDS[name]: _text(subject, name) for name in SUBJECT_FIELDS if subject.get(name)}
    made = await enrolment.request(_token(data), key=_text(data, "key"), label=_text(data, "label"),
                                   subject=Subject(**{"common_name": "", **fields}))
    return {"pem": encode_request(made.request, der=False).decode("ascii"), "key_id": made.key_id.hex(),
            "label": made.label, "token": made.token.label, "serial": made.token.serial,
            "subject": made.request["certification_request_info"]["subject"].human_friendly}


async def enroll_import(enrolment: Enrolment, data: dict) -> dict:
    """``certificate``: a file's bytes (base64), PEM or DER, perhaps a bundle with its chain;
    ``chain``: more such files."""
    chain = data.get("chain") or []
    if not isinstance(chain, list):
        raise SignerError(Code.BAD_REQUEST, "'chain' must be a list of files",
                          vi="'chain' phải là danh sách tệp")
    files = [{"name": _text(data, "name"), "data": data.get("certificate")}, *chain]
    certificates = [c for file in files for c in _certificates(file)]
    done = await enrolment.load(_token(data), certificates)
    return {"label": done.label, "key_id": done.key_id.hex(), "token": done.token.label,
            "serial": done.token.serial, "added": done.added, "chain_added": done.chain_added}


def _certificates(file: object) -> list[x509.Certificate]:
    if not isinstance(file, dict):
        raise SignerError(Code.BAD_REQUEST, "a file is given as its name and data",
                          vi="mỗi tệp cần có tên và nội dung")
    name = _text(file, "name") or "certificate"
    try:
        blob = base64.b64decode(_text(file, "data"), validate=True)
    except (binascii.Error, ValueError):
        raise SignerError(Code.BAD_REQUEST, f"{name}: not base64", vi=f"{name}: không phải dạng base64") from None
    if len(blob) > MAX_CERTIFICATE_BYTES:
        raise SignerError(Code.FILE_UNREADABLE, f"{name} is too large for a certificate",
                          vi=f"{name} quá lớn, không thể là chứng thư số")
    return parse_certificates(blob, name)


def _token(data: dict) -> str:
    token = _text(data, "token")
    if not token:
        raise SignerError(Code.BAD_REQUEST, "name the token (its serial)", vi="hãy chọn token (số sê-ri)")
    return token


def _text(data: dict, name: str) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise SignerError(Code.BAD_REQUEST, f"'{name}' must be text", vi=f"'{name}' phải là văn bản")
    return value
