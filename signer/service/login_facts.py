"""What the daemon learned about each key when it logged in, remembered across runs.

A key with CKA_ALWAYS_AUTHENTICATE asks the PIN for every signature, but a token shows
that flag only after login. The consent dialog must say so before the official agrees,
so the flag is remembered per certificate (by its SHA-256) in the state folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import Code, SignerError
from ..files import write_atomically


class LoginFacts:
    def __init__(self, path: Path) -> None:
        self.path = path

    def pin_per_signature(self, certificate_sha256: str) -> bool | None:
        """True or False once learned; None for a key not logged in to yet."""
        return self._load().get(certificate_sha256, {}).get("pin_per_signature")

    def remember(self, certificate_sha256: str, pin_per_signature: bool) -> None:
        data = self._load()
        if data.get(certificate_sha256, {}).get("pin_per_signature") == pin_per_signature:
            return
        data.setdefault(certificate_sha256, {})["pin_per_signature"] = pin_per_signature
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomically(self.path, json.dumps(data, indent=1).encode(), mode=0o600, error_code=Code.CONFIG_INVALID)
        except (OSError, SignerError):
            pass  # not remembered: the next consent simply does not know yet

    def _load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}
