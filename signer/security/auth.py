"""The per-user API token that local non-browser clients (CLI, scripts) present.

Stored in the user's config folder, readable by the user only. A browser page
cannot read it, so a page can never pass as a local client.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from ..errors import Code, SignerError, os_reason_vi
from ..files import write_atomically


class ApiToken:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._value = load_or_create_token(path)

    def matches(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        return hmac.compare_digest(authorization[7:].strip().encode(), self._value.encode())


def load_or_create_token(path: Path) -> str:
    try:
        if path.exists():
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)  # tighten a token file someone loosened
            value = path.read_text("ascii").strip()
            if value:
                return value
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        value = secrets.token_urlsafe(32)
        write_atomically(path, (value + "\n").encode(), mode=0o600, error_code=Code.CONFIG_INVALID)
        return value
    except OSError as exc:
        raise SignerError(Code.CONFIG_INVALID, f"API token file {path}: {exc.strerror or exc}",
                          vi=f"tệp mã truy cập API {path}: {os_reason_vi(exc)}") from None

