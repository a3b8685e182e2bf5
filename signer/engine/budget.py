"""How much reading one document may cost: how many last pages the anchor search reads,
and how far its streams may inflate.

One budget per process, set from the limits (``policies/limits.toml`` and the
configuration's ``[limits]``) by whoever starts the process's work; a process that sets
none reads with the packaged defaults. Light to import: the daemon sets it at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from policies.limits import Limits, load_limits


@dataclass(frozen=True)
class ReadBudget:
    """Plain data, so that it crosses to worker processes."""

    anchor_search_pages: int
    decoded_max_bytes: int  # one stream decoded; also all the text reading of one document
    decoded_max_ratio: float  # decoded size to encoded size, for streams past a few MB
    # a damaged document's lossless rewrite (``engine.repair``) is no larger than the largest
    # document the daemon takes in (a request body, a VGCA download)
    rewritten_max_bytes: int = 100 * 1024 * 1024

    @classmethod
    def of(cls, limits: Limits) -> ReadBudget:
        return cls(limits.anchor_search_pages, limits.decoded_max_bytes, limits.decoded_max_ratio,
                   max(limits.max_body_bytes, limits.transfer_max_bytes))


_configured: list[ReadBudget] = []


def configure(budget: ReadBudget) -> None:
    """The budget of every document read in this process from now on."""
    _configured[:] = [budget]


def current() -> ReadBudget:
    return _configured[0] if _configured else _packaged()


@lru_cache(maxsize=1)
def _packaged() -> ReadBudget:
    return ReadBudget.of(load_limits())
