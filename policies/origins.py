"""Which web origins may call the signer: the data in origins.toml plus additions.

An origin matches only exactly (scheme, host and port); ``http://127.0.0.1:8080``
does not allow ``http://127.0.0.1:8080.evil.example`` nor ``http://localhost:8080``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from urllib.parse import urlsplit

from .errors import PolicyError

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(origin: str) -> str | None:
    """``scheme://host:port`` in lower case with the port explicit, or None if not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port or DEFAULT_PORTS[parts.scheme]}"


def origin_list(value: object, name: str) -> tuple[str, ...]:
    """A configuration's list of web origins, normalised; a ValueError naming ``name`` otherwise."""
    if not isinstance(value, list):
        raise PolicyError(f"{name} must be a list of origins", f"{name} phải là danh sách địa chỉ trang web")
    normalized = []
    for origin in value:
        found = normalize_origin(origin) if isinstance(origin, str) else None
        if found is None:
            raise PolicyError(f"{name}: not a web origin (scheme://host[:port]): {origin!r}",
                              f"{name}: không phải địa chỉ trang web (scheme://host[:port]): {origin!r}")
        normalized.append(found)
    return tuple(normalized)


@dataclass(frozen=True)
class OriginAllowlist:
    origins: frozenset[str]
    extra_document_hosts: dict[str, frozenset[str]] = field(default_factory=dict)

    def allow_origin(self, origin: str | None) -> bool:
        if not origin or origin == "null":
            return False
        normalized = normalize_origin(origin)
        return normalized is not None and normalized in self.origins

    def listed(self) -> list[str]:
        return sorted(self.origins)

    def document_hosts(self, origin: str) -> frozenset[str]:
        """``host:port`` pairs the origin's pages may have the daemon download from or upload to:
        the origin's own, and those policy data allows for it."""
        normalized = normalize_origin(origin)
        if normalized is None or normalized not in self.origins:
            return frozenset()
        parts = urlsplit(normalized)
        return frozenset({f"{parts.hostname}:{parts.port}"}) | self.extra_document_hosts.get(normalized, frozenset())


def _host_ports(entry: str) -> tuple[str, ...]:
    """``host`` means the default http and https ports; ``host:port`` just that port."""
    host, _, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
    if port.isdigit():
        return (f"{host}:{port}",)
    return (f"{entry}:80", f"{entry}:443")


def load_allowlist(extra: Iterable[str] = (), only: Iterable[str] | None = None) -> OriginAllowlist:
    """The packaged list plus ``extra``; an entry that is not an origin is an error.

    ``only`` (the machine policy's origins, normalised) caps the list: packaged entries outside
    it are left out, and an ``extra`` outside it is an error."""
    data = tomllib.loads(resources.files(__package__).joinpath("origins.toml").read_text("utf-8"))
    cap = None if only is None else frozenset(only)
    origins = set()
    for entry in [*data.get("allowed", []), *extra]:
        normalized = normalize_origin(entry)
        if normalized is None:
            raise PolicyError(f"not a web origin (scheme://host[:port]): {entry!r}",
                              f"không phải địa chỉ trang web (scheme://host[:port]): {entry!r}")
        origins.add(normalized)
    for entry in extra:
        if cap is not None and normalize_origin(entry) not in cap:
            raise PolicyError(f"{entry} is not among the origins the machine policy allows",
                              f"{entry} không có trong các trang web mà chính sách của máy cho phép")
    if cap is not None:
        origins &= cap
    hosts = {}
    for origin, names in data.get("document_hosts", {}).items():
        normalized = normalize_origin(origin)
        if normalized is None:
            raise PolicyError(f"not a web origin (scheme://host[:port]): {origin!r}",
                              f"không phải địa chỉ trang web (scheme://host[:port]): {origin!r}")
        hosts[normalized] = frozenset(pair for n in names for pair in _host_ports(str(n).lower()))
    return OriginAllowlist(frozenset(origins), hosts)
