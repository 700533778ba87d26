"""Overload control: refuse new work while requests wait in the socket buffer, so the server recovers.

A server that is short of CPU falls behind its UDP receive buffer; phones retransmit what it has not answered
yet, which adds load exactly when there is none to spare, and every call fails. The guard looks at how many
bytes wait in that buffer: once a backlog builds, the core marks itself overloaded and new out-of-dialog
requests get 503 with Retry-After (RFC 3261 21.5.4), answered statelessly and cheaply, while the calls already
up go on. It clears when the backlog is gone. A server merely busy (a client keeping a fixed number of
requests in flight) keeps its buffer short and is never refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class LoadGuard:
    """Samples `queued()` (bytes waiting to be read) every SAMPLE_S seconds, with hysteresis."""

    SAMPLE_S = 0.25
    HIGH = 1 << 20  # about a thousand small datagrams: half a second of work or more
    LOW = 1 << 18

    def __init__(self, queued: Callable[[], int]) -> None:
        self.queued = queued
        self.overloaded = False
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._handle = asyncio.get_running_loop().call_later(self.SAMPLE_S, self._sample)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def observe(self, backlog: int) -> None:
        """Take one sample of the backlog in bytes."""
        was = self.overloaded
        self.overloaded = backlog > (self.LOW if was else self.HIGH)
        if self.overloaded != was:
            log.warning(
                "SIP %s (%d bytes wait in the receive buffer)",
                "overloaded: new requests get 503" if self.overloaded else "load back to normal",
                backlog,
            )

    def _sample(self) -> None:
        self.observe(self.queued())
        self._handle = asyncio.get_running_loop().call_later(self.SAMPLE_S, self._sample)
