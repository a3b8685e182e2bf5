"""One VGCA call: the page's path and origin, and the daemon's parts a handler may use;
and the reading of the page's JSON frame (objects, base64, credentials, metadata)."""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from policies.limits import Limits
from policies.origins import OriginAllowlist

from ..audit import AuditLog
from ..certificates import Trust
from ..config import Settings
from ..errors import Code, SignerError
from ..keys import KeyStore
from ..service.batches.manager import BatchManager
from ..service.caller import Caller
from ..service.signing import SigningService
from .transfer import Credentials, Transfers

METADATA_MAX_ENTRIES = 64
METADATA_KEY_CHARS = 128
METADATA_VALUE_CHARS = 8192  # integrators carry tokens in MetaData (a JWT is a few kilobytes)


@dataclass(frozen=True)
class Parts:
    """What the VGCA handlers use of the daemon."""

    service: SigningService
    batches: BatchManager
    keys: KeyStore
    trust: Trust
    limits: Limits
    allowlist: OriginAllowlist
    settings: Settings
    audit: AuditLog


@dataclass
class Call:
    parts: Parts
    caller: Caller
    path: str

    @property
    def origin(self) -> str:
        return self.caller.origin or ""

    def transfers(self) -> Transfers:
        limits = self.parts.limits
        return Transfers(self.parts.allowlist.document_hosts(self.origin), limits.transfer_max_bytes,
                         limits.transfer_timeout_s)

    def certificate_for(self, profile: str) -> str | None:
        return self.parts.settings.vgca_certificates.get(profile)


def frame_object(frame: str) -> dict[str, Any]:
    try:
        value = json.loads(frame)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates cannot go anywhere
    except (ValueError, RecursionError, UnicodeEncodeError):
        raise SignerError(Code.BAD_REQUEST, "the frame is not valid JSON text",
                          vi="khung dữ liệu không phải là văn bản JSON hợp lệ") from None
    if not isinstance(value, dict):
        raise SignerError(Code.BAD_REQUEST, "the frame is not a JSON object",
                          vi="khung dữ liệu không phải là đối tượng JSON")
    return value


def base64_field(value: Any, name: str) -> bytes:
    try:
        return base64.b64decode(str(value or ""), validate=True)
    except (binascii.Error, ValueError):
        raise SignerError(Code.BAD_REQUEST, f"{name} must be base64", vi=f"{name} phải được mã hóa base64") from None


def credentials(request: dict[str, Any]) -> Credentials:
    found = Credentials(session_id=str(request.get("SessionId") or ""), jwt=str(request.get("JWTToken") or ""))
    for value in (found.session_id, found.jwt):  # they become a cookie and a header: no control characters
        if ";" in value or not (value.isascii() and value.isprintable()):
            raise SignerError(Code.BAD_REQUEST, "SessionId and JWTToken must be plain ASCII tokens",
                              vi="SessionId và JWTToken phải là chuỗi ASCII thuần")
    return found


def metadata(request: dict[str, Any], reserved: tuple[str, ...] = ("uploadfile",)) -> dict[str, str]:
    """``MetaData`` (``[{"Key", "Value"}]``) as the upload's form fields. Read before anything
    is asked: the fields go into the upload's multipart headers and body, so anything but a
    short list of plain text is BAD_REQUEST now, not a failed upload after the signature.
    A number or a boolean value is sent as text (``str``), as integrators expect; an entry's
    other keys are ignored. A key naming one of the upload's own fields (``reserved``,
    compared without case: upload handlers often read form fields so) is refused rather
    than left to replace it."""
    entries = request.get("MetaData")
    if entries is None:
        return {}
    if not isinstance(entries, list) or len(entries) > METADATA_MAX_ENTRIES:
        raise SignerError(Code.BAD_REQUEST, f"MetaData must be a list of at most {METADATA_MAX_ENTRIES} entries",
                          vi=f"MetaData phải là danh sách có tối đa {METADATA_MAX_ENTRIES} mục")
    taken = {name.casefold() for name in reserved}
    fields = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise SignerError(Code.BAD_REQUEST, 'each MetaData entry is {"Key": ..., "Value": ...}',
                              vi='mỗi mục MetaData có dạng {"Key": ..., "Value": ...}')
        key = plain_text(entry.get("Key"), "a MetaData Key", METADATA_KEY_CHARS)
        if not key or key.casefold() in taken:
            raise SignerError(Code.BAD_REQUEST, f"a MetaData Key is empty or names the upload's own field "
                                                f"({', '.join(reserved)})",
                              vi=f"có một Key trong MetaData để trống hoặc trùng tên trường của tệp gửi lên "
                                 f"({', '.join(reserved)})")
        fields[key] = plain_text(_scalar_text(entry.get("Value")), f"MetaData {key!r}", METADATA_VALUE_CHARS)
    return fields


def _scalar_text(value: Any) -> Any:
    """A number or a boolean as text, nothing as empty text; anything else as it is (for
    ``plain_text`` to refuse what is not a string)."""
    if value is None:
        return ""
    if isinstance(value, int | float):  # bool is an int
        return str(value)
    return value


def plain_text(value: Any, name: str, most: int) -> str:
    """``value`` if it is a string of at most ``most`` characters without control characters
    (CR, LF, NUL, C0, DEL, C1) or line separators; else BAD_REQUEST naming ``name``."""
    if not isinstance(value, str):
        raise SignerError(Code.BAD_REQUEST, f"{name} must be a string", vi=f"{name} phải là chuỗi ký tự")
    if len(value) > most:
        raise SignerError(Code.BAD_REQUEST, f"{name} is longer than {most} characters",
                          vi=f"{name} dài quá {most} ký tự")
    if any(unicodedata.category(c) == "Cc" or c in "\u2028\u2029" for c in value):
        raise SignerError(Code.BAD_REQUEST, f"{name} contains a control character or line break",
                          vi=f"{name} chứa ký tự điều khiển hoặc ký tự xuống dòng")
    return value
