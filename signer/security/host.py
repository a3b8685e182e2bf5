"""Peer address and Host header checks: the first two gates of every request.

The Host check stops DNS rebinding: a page on evil.example re-pointed at 127.0.0.1
sends ``Host: evil.example`` (and, being same-origin, often no Origin at all).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(peer: str | None) -> bool:
    if not peer:
        return False
    try:
        return ipaddress.ip_address(peer.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def allow_host(host: str | None, ports: Collection[int]) -> bool:
    """``127.0.0.1``, ``localhost`` or ``[::1]``, optionally with one of our ports."""
    if not host:
        return False
    host = host.strip().lower()
    for name in LOOPBACK_NAMES:
        if host == name:
            return True
        if host.startswith(name + ":"):
            port = host[len(name) + 1:]
            return port.isdigit() and int(port) in ports
    return False
