"""Reading a document and its options from a request: raw body + query, or multipart."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import BodyPartReader

from ..errors import Code, SignerError
from ..logs import get_logger
from ..service.caller import Caller

log = get_logger(__name__)

FIELD_LIMIT = 64 * 1024  # option fields are short texts
MAX_FIELDS = 32
PIN_FIELDS = {"pin", "user_pin", "userpin", "password", "matkhau", "ma_pin", "otp", "ma_otp"}  # nor a one-time code


@dataclass
class Upload:
    data: bytes
    options: dict[str, str]
    filename: str | None = None


async def read_upload(request: web.Request, caller: Caller, limit: int) -> Upload:
    """The document (required, non-empty) and option fields; a PIN field is dropped, never used."""
    options = dict(request.query)
    filename = None
    if request.content_type.startswith("multipart/"):
        data = None
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise SignerError(Code.BAD_REQUEST, "nested multipart is not supported",
                                      vi="không hỗ trợ multipart lồng nhau")
                if part.name == "file":
                    data = await _read_part(part, limit)
                    filename = part.filename
                elif part.name:
                    if len(options) >= MAX_FIELDS:
                        raise SignerError(Code.BAD_REQUEST, f"more than {MAX_FIELDS} form fields",
                                          vi=f"quá {MAX_FIELDS} trường biểu mẫu")
                    options[part.name] = (await _read_part(part, FIELD_LIMIT)).decode("utf-8", "replace")
        except SignerError:
            raise
        except (ValueError, AssertionError, UnicodeDecodeError, HttpProcessingError) as exc:
            raise SignerError(Code.BAD_REQUEST, f"malformed multipart body ({type(exc).__name__})",
                              vi=f"nội dung multipart sai định dạng ({type(exc).__name__})") from None
        if data is None:
            raise SignerError(Code.BAD_REQUEST, "multipart body without a 'file' field",
                              vi="nội dung multipart không có trường 'file'")
    else:
        data = await request.read()
    if not data:
        raise SignerError(Code.DOCUMENT_INVALID, "the document is empty", vi="văn bản rỗng")
    drop_pin_fields(options, caller)
    return Upload(data=data, options=options, filename=filename)


def drop_pin_fields(options: dict, caller: Caller) -> None:
    """The PIN never crosses the API: drop any such field and record a security warning."""
    for name in [n for n in options if n.lower() in PIN_FIELDS]:
        del options[name]
        caller.warnings.append("PIN_IGNORED")
        log.warning("pin_in_request_ignored", origin=caller.name, field=name)


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    chunks = []
    size = 0
    while chunk := await part.read_chunk(256 * 1024):
        size += len(chunk)
        if size > limit:
            raise SignerError(Code.TOO_LARGE, limit_mb=round(limit / 1024 / 1024, 2))
        chunks.append(chunk)
    return b"".join(chunks)
