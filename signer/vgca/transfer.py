"""Downloading documents from and uploading signed ones to the document system.

No server-side request forgery: every URL must be http(s) on a host the calling
origin may use (its own host, or hosts policy data allows for it); no ``file:``;
redirects are followed only to the same host; each transfer has a size and a
time limit; TLS certificates are verified.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp

from ..errors import Code, SignerError

MAX_REDIRECTS = 3
REDIRECTS = {301, 302, 303, 307, 308}


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
class Downloaded:
    data: bytes
    filename: str


@dataclass(frozen=True)
class Uploaded:
    file_name: str
    file_server: Any  # opaque: passed back to the page unchanged
    message: str


def check_url(url: str, allowed_hosts: Collection[str]) -> str:
    """The URL if it is http(s) on an allowed ``host:port``, else URL_NOT_ALLOWED."""
    target = _host_port(url)
    if target not in allowed_hosts:
        raise SignerError(Code.URL_NOT_ALLOWED, f"{target} is not the page's document system")
    return url


def _host_port(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise SignerError(Code.URL_NOT_ALLOWED, "malformed URL") from None
    if parts.scheme not in ("http", "https"):
        raise SignerError(Code.URL_NOT_ALLOWED, f"scheme {parts.scheme or '(none)'} is not http(s)")
    if parts.username or parts.password:
        raise SignerError(Code.URL_NOT_ALLOWED, "credentials in the URL")
    if not host:
        raise SignerError(Code.URL_NOT_ALLOWED, "no host")
    return f"{host}:{port or (443 if parts.scheme == 'https' else 80)}"


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

    async def download(self, url: str, credentials: Credentials) -> Downloaded:
        check_url(url, self.allowed_hosts)
        try:
            response, final_url = await self._get_following_same_host(url, credentials)
            async with response:
                if response.status != 200:
                    raise SignerError(Code.DOWNLOAD_FAILED, f"HTTP {response.status}")
                declared = response.content_length
                if declared is not None and declared > self.max_bytes:
                    raise SignerError(Code.TOO_LARGE, limit_mb=round(self.max_bytes / 1048576, 1))
                data = await self._read_bounded(response)
                return Downloaded(data=data, filename=_filename(response.headers, final_url))
        except SignerError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SignerError(Code.DOWNLOAD_FAILED, type(exc).__name__) from None

    async def upload(
        self, url: str, credentials: Credentials, data: bytes, filename: str, fields: Mapping[str, str]
    ) -> Uploaded:
        """POST the signed file as multipart field ``uploadfile`` with the MetaData fields."""
        check_url(url, self.allowed_hosts)
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        form.add_field("uploadfile", data, filename=filename, content_type="application/pdf")
        assert self._session
        try:
            async with self._session.post(url, data=form, headers=credentials.headers(),
                                          allow_redirects=False) as response:
                body = b""
                async for chunk in response.content.iter_chunked(64 * 1024):  # read() gives one chunk only
                    body += chunk
                    if len(body) > 1024 * 1024:  # a handler's JSON reply is short
                        raise SignerError(Code.UPLOAD_FAILED, "the upload handler's reply is too long")
                if response.status != 200:
                    raise SignerError(Code.UPLOAD_FAILED, f"HTTP {response.status}")
        except SignerError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SignerError(Code.UPLOAD_FAILED, type(exc).__name__) from None
        return _handler_reply(body, filename)

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
                raise SignerError(Code.URL_NOT_ALLOWED, "malformed redirect") from None
            # credentials go along: a redirect may not change scheme, host or port
            if (urlsplit(target).scheme, _host_port(target)) != origin:
                raise SignerError(Code.URL_NOT_ALLOWED, "redirect to another scheme, host or port")
            url = check_url(target, self.allowed_hosts)
        raise SignerError(Code.DOWNLOAD_FAILED, "too many redirects")

    async def _read_bounded(self, response: aiohttp.ClientResponse) -> bytes:
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(256 * 1024):
            size += len(chunk)
            if size > self.max_bytes:
                raise SignerError(Code.TOO_LARGE, limit_mb=round(self.max_bytes / 1048576, 1))
            chunks.append(chunk)
        return b"".join(chunks)


def _handler_reply(body: bytes, filename: str) -> Uploaded:
    """The upload handler's JSON; ``Status`` is true/false or 0 (ok)/non-zero, by implementation."""
    try:
        reply = json.loads(body)
    except ValueError:
        raise SignerError(Code.UPLOAD_FAILED, "the upload handler did not answer JSON") from None
    if not isinstance(reply, dict):
        raise SignerError(Code.UPLOAD_FAILED, "the upload handler did not answer a JSON object")
    status = reply.get("Status", reply.get("status"))
    ok = status is True or (not isinstance(status, bool) and status in (0, "0"))
    message = str(reply.get("Message") or "")
    if not ok:
        raise SignerError(Code.UPLOAD_FAILED, message or f"Status {status!r}")
    return Uploaded(file_name=str(reply.get("FileName") or filename), file_server=reply.get("FileServer"),
                    message=message)


def _filename(headers: Mapping[str, str], url: str) -> str:
    disposition = headers.get("Content-Disposition", "")
    for part in disposition.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() in ("filename*",) and "''" in value:
            return unquote(value.split("''", 1)[1])
        if name.lower() == "filename" and value:
            return value.strip('"')
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    return unquote(last) or "document.pdf"
