"""The one reading of a URL the daemon may fetch from: http(s), a host, no credentials, and
its ``host:port`` (the unit the URL policies of transfers and verification allow)."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class UrlRefused(ValueError):
    """Why a URL cannot be fetched from at all, whatever the policy."""


def host_port(url: str) -> str:
    """``host:port`` of an http(s) URL (the scheme's port when none is given), lower-case."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        raise UrlRefused("malformed URL") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise UrlRefused(f"scheme {parts.scheme or '(none)'} is not http(s)")
    if parts.username or parts.password:
        raise UrlRefused("credentials in the URL")
    if not host:
        raise UrlRefused("no host")
    return f"{host}:{port or DEFAULT_PORTS[parts.scheme]}"


def origin(url: str) -> tuple[str, str] | None:
    """(scheme, host:port): what a redirect may not change. None for a URL not fetchable at all."""
    try:
        return urlsplit(url).scheme, host_port(url)
    except UrlRefused:
        return None
