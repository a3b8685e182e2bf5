"""Desktop notifications for tokens plugged in and pulled out, in the official's language,
and the list of the tokens connected now, as the daemon's ``token`` messages tell them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

TEXT = {
    "vi": {"arrived": "Đã nhận USB token {name}", "left": "Đã rút USB token {name}",
           "driver": "Chưa cài driver: {install}"},
    "en": {"arrived": "USB token {name} connected", "left": "USB token {name} removed",
           "driver": "Driver not installed: {install}"},
}


@dataclass(frozen=True)
class Notice:
    """One notification: its line, the driver line when the token's module is missing, and
    the daemon's message it tells of."""

    title: str
    detail: str | None
    token: dict[str, Any]
    shown_at: float = field(default_factory=time.monotonic)


def token_notice(token: dict[str, Any], language: str) -> Notice:
    text = TEXT.get(language, TEXT["vi"])
    title = text["left" if token.get("kind") == "left" else "arrived"].format(name=token.get("name") or "")
    detail = None
    if token.get("model") and not token.get("module_installed"):  # a known model whose module is not here
        install = token.get("install") or token.get("module") or token["model"]
        detail = text["driver"].format(install=install)
    return Notice(title, detail, token)


def token_key(token: dict[str, Any]) -> tuple[Any, ...]:
    """The same for a token's arrival and its removal (the daemon's messages carry no key of their own)."""
    return (token.get("source"), token.get("reader"), token.get("usb_id"), token.get("slot"))


class TokenList:
    """What is plugged in now: the daemon's snapshot (status "connected"), then each change."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[Any, ...], dict[str, Any]] = {}

    def apply(self, token: dict[str, Any]) -> None:
        if token.get("kind") == "left":
            self._tokens.pop(token_key(token), None)
        else:
            self._tokens[token_key(token)] = token

    def replace(self, connected: list[dict[str, Any]]) -> None:
        self._tokens = {token_key(t): t for t in connected}

    def now(self) -> list[dict[str, Any]]:
        return sorted(self._tokens.values(), key=lambda t: t.get("at") or 0)
