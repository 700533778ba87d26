"""Token buckets per (client address, account), as Crossbar limits request rates."""

from __future__ import annotations

import time


class Buckets:
    def __init__(self, capacity: int, fill_per_s: float):
        self.capacity = capacity
        self.fill_per_s = fill_per_s
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, client: str, account: str, cost: float = 1.0) -> tuple[bool, int]:
        """Take `cost` tokens; returns (allowed, tokens remaining)."""
        now = time.monotonic()
        tokens, stamp = self._buckets.get((client, account), (float(self.capacity), now))
        tokens = min(self.capacity, tokens + (now - stamp) * self.fill_per_s)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        if len(self._buckets) > 100_000:
            self._buckets.clear()
        self._buckets[(client, account)] = (tokens, now)
        return allowed, int(tokens)
