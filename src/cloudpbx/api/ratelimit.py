"""Token buckets per (client address, account), as Crossbar limits request rates."""

from __future__ import annotations

import math
import time


class Buckets:
    def __init__(self, capacity: int, fill_per_s: float):
        self.capacity = capacity
        self.fill_per_s = fill_per_s
        self._buckets: dict[tuple[str, str], list[float]] = {}  # [tokens, when last filled], updated in place

    def take(self, client: str, account: str, cost: float = 1.0) -> int:
        """Take `cost` tokens; 0 when allowed, else the whole seconds until the bucket holds them (Retry-After)."""
        now = time.monotonic()
        key = (client, account)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= 100_000:
                self._buckets.clear()
            bucket = self._buckets[key] = [float(self.capacity), now]
        tokens = min(self.capacity, bucket[0] + (now - bucket[1]) * self.fill_per_s)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        bucket[0], bucket[1] = tokens, now
        return 0 if allowed else max(1, math.ceil((cost - tokens) / self.fill_per_s))
