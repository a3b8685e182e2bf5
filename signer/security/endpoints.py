"""A TCP connection's ends as comparable values, whichever form the system printed them in."""

from __future__ import annotations

import ipaddress
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Endpoint = tuple[IPAddress, int]


def plain(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def endpoint(address: Any) -> Endpoint:
    """A socket address as Python or psutil gives it (``(host, port)`` or ``(host, port, flow, scope)``)."""
    return plain(ipaddress.ip_address(str(address[0]).split("%", 1)[0])), int(address[1])
