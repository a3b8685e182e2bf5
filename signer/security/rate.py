"""Request rates (a token bucket per caller, or per peer)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# beyond this many buckets, the full ones (callers quiet long enough to have their whole burst
# again, so no different from new ones) are dropped: peers named by process come and go
PRUNE_ABOVE = 1024


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """Token bucket per caller (an origin, or what a non-browser caller is: service.caller), or per
    peer (``signer.security.peers.Peer.name``)."""

    rate: float
    burst: float
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def allow(self, caller: str) -> bool:
        now = time.monotonic()
        if len(self._buckets) > PRUNE_ABOVE:
            self._prune(now)
        bucket = self._buckets.setdefault(caller, _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def _prune(self, now: float) -> None:
        self._buckets = {k: b for k, b in self._buckets.items()
                         if b.tokens + (now - b.stamp) * self.rate < self.burst}
