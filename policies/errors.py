"""A policy file or setting that cannot be used, said in English and in Vietnamese: the daemon
shows both halves of its messages, and policies import nothing of the daemon's."""

from __future__ import annotations


class PolicyError(ValueError):
    """``str()`` is the English detail; ``vi`` the same in Vietnamese."""

    def __init__(self, detail: str, vi: str) -> None:
        super().__init__(detail)
        self.vi = vi


def vietnamese(exc: BaseException, lead: str = "") -> str:
    """An error's Vietnamese detail: a policy's own, or ``lead`` and the words of whatever else
    failed (a TOML parser's, say), quoted as they are."""
    vi: str = getattr(exc, "vi", "")
    return vi or (f"{lead}: {exc}" if lead else str(exc))
