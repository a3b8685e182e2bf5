"""Downloading documents from and uploading signed ones to the document system.

No server-side request forgery: every URL must be http(s) on a host the calling
origin may use (its own host, or hosts policy data allows for it); no ``file:``;
redirects are followed only to the same host; each transfer has a size and a
time limit; TLS certificates are verified.

Sizes are checked as bytes arrive (a declared ``Content-Length`` first): a batch's
documents go to disk a chunk at a time under the per-file limit and the caller's quota
(``files.Share``: all its documents not yet consented), so a page's oversized batch, or
several at once, is refused at the limit, before anything is asked.
"""

from __future__ import annotations

import contextlib
import json
import unicodedata
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp

from ..errors import Code, SignerError
from ..files import Share, stream_to_disk
from ..urls import REDIRECTS, UrlRefused, host_port

MAX_REDIRECTS = 3
CHUNK = 256 * 1024
NAME_MAX = 255  # characters of a file name taken from the document system


@dataclass(frozen=True)
class Credentials:
    """What the page gave us to reach its document system."""

    session_id: str = ""
    jwt: str = ""

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.session_id:
            # the page does not say the cookie's name; the plugin's integrators use these
            headers["Cookie"] = f"ASP.NET_SessionId={self.session_id}; SessionId={self.session_id}"
        if self.jwt:
            headers["Authorization"] = f"Bearer {self.jwt}"
        return headers


@dataclass(frozen=True)
class Fetched:
    """A document read into memory (one document that is then parsed in memory anyway)."""

    data: bytes
    filename: str


@dataclass(frozen=True)
class Downloaded:
    """A document written to disk."""

    path: Path
    filename: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Uploaded:
    file_name: str
    file_server: Any  # opaque: passed back to the page unchanged
    message: str


def check_url(url: str, allowed_hosts: Collection[str]) -> str:
    """The URL if it is http(s) on an allowed ``host:port``, else URL_NOT_ALLOWED."""
    target = _host_port(url)
    if target not in allowed_hosts:
        raise SignerError(Code.URL_NOT_ALLOWED, f"{target} is not the page's document system",
                          vi=f"{target} không phải hệ thống quản lý văn bản của trang web")
    return url


def _host_port(url: str) -> str:
    try:
        return host_port(url)
    except UrlRefused as refused:
        raise SignerError(Code.URL_NOT_ALLOWED, str(refused), vi=f"địa chỉ bị từ chối: {refused}") from None


class Transfers:
    """One client session for a call's downloads and uploads."""

    def __init__(self, allowed_hosts: Collection[str], max_bytes: int, timeout_s: float) -> None:
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self.max_bytes = max_bytes
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Transfers:
        self._session = aiohttp.ClientSession(timeout=self.timeout, trust_env=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._session
        await self._session.close()

    async def fetch(self, url: str, credentials: Credentials) -> Fetched:
        """The document in memory, within the per-file limit."""
        async with self._receiving(url, credentials) as (response, filename):
            chunks, size = [], 0
            async for chunk in response.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > self.max_bytes:
                    raise self._too_large()
                chunks.append(chunk)
        return Fetched(data=b"".join(chunks), filename=filename)

    async def download(self, url: str, credentials: Credentials, into: Path, share: Share) -> Downloaded:
        """The document written to ``into`` (by ``stream_to_disk``: whole or not at all), within
        the per-file limit and the caller's quota (``share``)."""
        async with self._receiving(url, credentials) as (response, filename):
            declared = response.content_length
            if declared is not None and declared > share.room():
                share.refuse()
            size, sha256 = await stream_to_disk(into, self._within_limit(response), share,
                                                error_code=Code.DOWNLOAD_FAILED)
        return Downloaded(path=into, filename=filename, size=size, sha256=sha256)

    async def _within_limit(self, response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in response.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large()
            yield chunk

    @contextlib.asynccontextmanager
    async def _receiving(self, url: str, credentials: Credentials
                         ) -> AsyncIterator[tuple[aiohttp.ClientResponse, str]]:
        """The document's response (200, declared size within the per-file limit) and file name."""
        check_url(url, self.allowed_hosts)
        try:
            response, final_url = await self._get_following_same_host(url, credentials)
            async with response:
                if response.status != 200:
                    raise SignerError(Code.DOWNLOAD_FAILED, f"HTTP {response.status}", vi=f"HTTP {response.status}")
                declared = response.content_length
                if declared is not None and declared > self.max_bytes:
                    raise self._too_large()
                yield response, _filename(response.headers, final_url)
        except SignerError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SignerError(Code.DOWNLOAD_FAILED, type(exc).__name__,
                              vi=f"lỗi kết nối: {type(exc).__name__}") from None

    def _too_large(self) -> SignerError:
        return SignerError(Code.TOO_LARGE, limit_mb=_mb(self.max_bytes))

    async def upload(
        self, url: str, credentials: Credentials, body: bytes | BinaryIO, filename: str, fields: Mapping[str, str]
    ) -> Uploaded:
        """POST the signed file (its bytes, or an open file read a chunk at a time) as multipart
        field ``uploadfile`` with the MetaData fields (checked by ``call.metadata``)."""
        check_url(url, self.allowed_hosts)
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        form.add_field("uploadfile", body, filename=filename, content_type="application/pdf")
        assert self._session
        try:
            async with self._session.post(url, data=form, headers=credentials.headers(),
                                          allow_redirects=False) as response:
                reply = b""
                async for chunk in response.content.iter_chunked(64 * 1024):  # read() gives one chunk only
                    reply += chunk
                    if len(reply) > 1024 * 1024:  # a handler's JSON reply is short
                        raise SignerError(Code.UPLOAD_FAILED, "the upload handler's reply is too long",
                                          vi="câu trả lời của máy chủ nhận tệp quá dài")
                if response.status != 200:
                    raise SignerError(Code.UPLOAD_FAILED, f"HTTP {response.status}", vi=f"HTTP {response.status}")
        except SignerError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SignerError(Code.UPLOAD_FAILED, type(exc).__name__, vi=f"lỗi kết nối: {type(exc).__name__}") from None
        return _handler_reply(reply, filename)

    async def _get_following_same_host(self, url: str, credentials: Credentials):
        assert self._session
        origin = (urlsplit(url).scheme, _host_port(url))
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._session.get(url, headers=credentials.headers(), allow_redirects=False)
            if response.status not in REDIRECTS:
                return response, url
            location = response.headers.get("Location", "")
            response.release()
            try:
                target = urljoin(url, location)
            except ValueError:
                raise SignerError(Code.URL_NOT_ALLOWED, "malformed redirect", vi="chuyển hướng sai định dạng") from None
            # credentials go along: a redirect may not change scheme, host or port
            if (urlsplit(target).scheme, _host_port(target)) != origin:
                raise SignerError(Code.URL_NOT_ALLOWED, "redirect to another scheme, host or port",
                                  vi="chuyển hướng sang giao thức, máy chủ hoặc cổng khác")
            url = check_url(target, self.allowed_hosts)
        raise SignerError(Code.DOWNLOAD_FAILED, "too many redirects", vi="chuyển hướng quá nhiều lần")


def _handler_reply(body: bytes, filename: str) -> Uploaded:
    """The upload handler's JSON; ``Status`` is true/false or 0 (ok)/non-zero, by implementation."""
    try:
        reply = json.loads(body)
    except ValueError:
        raise SignerError(Code.UPLOAD_FAILED, "the upload handler did not answer JSON",
                          vi="máy chủ nhận tệp không trả về JSON") from None
    if not isinstance(reply, dict):
        raise SignerError(Code.UPLOAD_FAILED, "the upload handler did not answer a JSON object",
                          vi="máy chủ nhận tệp không trả về đối tượng JSON")
    status = reply.get("Status", reply.get("status"))
    ok = status is True or (not isinstance(status, bool) and status in (0, "0"))
    message = str(reply.get("Message") or "")
    if not ok:
        raise SignerError(Code.UPLOAD_FAILED, message or f"Status {status!r}", vi=message or f"Status {status!r}")
    return Uploaded(file_name=str(reply.get("FileName") or filename), file_server=reply.get("FileServer"),
                    message=message)


def _mb(size: int) -> float:
    return round(size / 1048576, 1)


def _filename(headers: Mapping[str, str], url: str) -> str:
    """The document system's name for the file, as a plain name: it goes into the consent
    dialog and back into the upload's ``Content-Disposition``."""
    disposition = headers.get("Content-Disposition", "")
    for part in disposition.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() in ("filename*",) and "''" in value:
            return _plain_name(unquote(value.split("''", 1)[1]))
        if name.lower() == "filename" and value:
            return _plain_name(value.strip('"'))
    return _plain_name(unquote(urlsplit(url).path.rsplit("/", 1)[-1]))


def _plain_name(name: str) -> str:
    """No control or format characters, no folders, no quotes; ``document.pdf`` if nothing is left."""
    kept = "".join(c for c in name if unicodedata.category(c)[0] not in "CZ" or c == " ")
    kept = kept.replace("/", "_").replace("\\", "_").replace('"', "'").strip(" .")
    return kept[:NAME_MAX] or "document.pdf"
