"""Who is calling: a browser origin (after the allowlist) or a local client with the API token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LOCAL = "local"


@dataclass
class Caller:
    origin: str | None  # None: a local client that presented the API token, or a public route
    public: bool = False  # a public route (health, OpenAPI, service page): its own rate budget
    audit: dict[str, Any] = field(default_factory=dict)  # facts the handler adds for the audit line
    warnings: list[str] = field(default_factory=list)
    outcome: str | None = None  # a result the reply carries itself (VGCA status), for the audit line
    consented: set[str] = field(default_factory=set)  # scopes the official allowed for this call

    @property
    def name(self) -> str:
        return self.origin or LOCAL

    @property
    def is_browser(self) -> bool:
        return self.origin is not None
