"""Overload control: refuse new work while the event loop's thread has no time left, so the server recovers.

A server that is short of CPU falls behind its socket buffer; phones retransmit what it has not answered yet,
which adds load exactly when there is none to spare, and every call fails. A guard that sees the loop's thread
busy for (nearly) all of a window marks the core overloaded: new out-of-dialog requests then get 503 with
Retry-After (RFC 3261 21.5.4), answered statelessly and cheaply, while the calls already up go on. It clears
once the thread has idle time again.
"""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger(__name__)


class LoadGuard:
    """Samples the share of wall time the loop's thread spent on the CPU, every WINDOW_S seconds."""

    WINDOW_S = 1.0
    BUSY = 0.99  # over this share the loop never waited for input: a backlog is building
    CALM = 0.85  # under this share again, new work is taken

    def __init__(self) -> None:
        self.overloaded = False
        self.share = 0.0  # of the last window
        self._mark = (0.0, 0.0)
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._mark = (loop.time(), time.thread_time())  # called on the loop's thread: its CPU time is the loop's
        self._handle = loop.call_later(self.WINDOW_S, self._sample)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def observe(self, busy_share: float) -> None:
        """Take one window's share of busy time (hysteresis between BUSY and CALM)."""
        was, self.share = self.overloaded, busy_share
        self.overloaded = busy_share > (self.CALM if was else self.BUSY)
        if self.overloaded != was:
            log.warning("SIP %s: the event loop was busy %.0f%% of the last %.1f s",
                        "overloaded, refusing new requests with 503" if self.overloaded else "load back to normal",
                        busy_share * 100, self.WINDOW_S)

    def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        now, cpu = loop.time(), time.thread_time()
        then, cpu_then = self._mark
        self._mark = (now, cpu)
        self.observe((cpu - cpu_then) / max(now - then, 1e-6))
        self._handle = loop.call_later(self.WINDOW_S, self._sample)
