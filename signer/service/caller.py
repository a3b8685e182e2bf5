"""Who is calling: a browser origin (after the allowlist), a local client with the API token,
a command on this machine, or nobody known (a public route).

These are also the audit trail's origins: an Origin as the browser sent it (normalised once
allowed), or one of the words below, each saying what was established and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WITH_API_TOKEN = "api-token"  # a local client that presented the API token
CLI = "cli"  # a command (``signer sign``, ...) run by the daemon's own OS user
ABSENT = "absent"  # no Origin and no valid API token: a public route, or a refused request
DEVICE = "device"  # nobody called: a token was plugged in or pulled out
COMPANION = "companion"  # the desktop companion's own windows (enrolment from its settings window)


@dataclass
class Caller:
    origin: str | None  # None: not a browser; ``client`` says what it is
    client: str = WITH_API_TOKEN  # WITH_API_TOKEN, CLI or ABSENT, when ``origin`` is None
    public: bool = False  # a public route (health, OpenAPI, service page): its own rate budget
    audit: dict[str, Any] = field(default_factory=dict)  # facts the handler adds for the audit line
    warnings: list[str] = field(default_factory=list)
    outcome: str | None = None  # a result the reply carries itself (VGCA status), for the audit line
    consented: set[str] = field(default_factory=set)  # scopes the official allowed for this call

    @property
    def name(self) -> str:
        return self.origin or self.client

    @property
    def is_browser(self) -> bool:
        return self.origin is not None
