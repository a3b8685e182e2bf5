"""Failures at the token layer, each with a stable code.

The daemon maps codes to messages, HTTP statuses and exit codes in one table
(``signer.errors``); here a failure only says what happened, with the facts
needed to explain it. A PIN never goes into an error.
"""

from __future__ import annotations

from typing import Any


class TokenError(Exception):
    """A token-layer failure with a stable machine code; ``detail`` in English, ``vi`` the same
    in Vietnamese (the daemon shows both)."""

    def __init__(self, code: str, detail: str = "", *, vi: str = "", **facts: Any) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.vi = vi
        self.facts = facts
