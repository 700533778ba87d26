"""Limits on client connections shared by the HTTP server and SIP over TCP: a cap per client address, a cap in all
that stays below the process's file limit, and which connection to shed when the cap in all is reached.

A connection is *sheddable* while it holds a slot without doing work for anyone (HTTP: no request in progress; SIP:
no complete message yet). At the cap in all the connection that has been sheddable longest is closed to admit a new
one, so clients that open connections and send nothing (or a byte at a time) cannot lock everyone else out, while a
client that completes its request at once gets served. Imports nothing of the platform: it sits beside the layers.
"""

from __future__ import annotations

import resource
from collections import Counter
from typing import Protocol

FD_RESERVE_MIN = 128  # files kept for the database, listening sockets, logs and media beside client connections
FD_RESERVE_SHARE = 4  # ... or a quarter of the limit when that is more (RTP relay sockets grow with calls)
UNLIMITED_TARGET = 1 << 20  # the soft limit sought when the hard limit is unlimited


class Shed(Protocol):
    def shed(self) -> None:
        """Close the connection: it is being dropped to make room."""


class ConnectionGuard:
    """Counts admitted connections per address and in all; keeps the sheddable ones oldest first."""

    def __init__(self, total: int, per_address: int):
        self.total, self.per_address = total, per_address
        self.addresses: dict[Shed, str] = {}  # admitted connection → client address
        self.per: Counter[str] = Counter()
        self.sheddable: dict[Shed, None] = {}  # insertion-ordered: the first waited longest

    def admit(self, conn: Shed, address: str) -> bool:
        """Count `conn` in, shedding the longest-waiting connection at the cap in all; False when it is refused."""
        if self.per[address] >= self.per_address:
            return False
        if len(self.addresses) >= self.total:
            if not self.sheddable:
                return False
            oldest = next(iter(self.sheddable))
            self.release(oldest)
            oldest.shed()
        self.addresses[conn] = address
        self.per[address] += 1
        self.sheddable[conn] = None
        return True

    def release(self, conn: Shed) -> None:
        """Count `conn` out (closed or shed); safe to call twice."""
        address = self.addresses.pop(conn, None)
        if address is None:
            return
        self.sheddable.pop(conn, None)
        self.per[address] -= 1
        if not self.per[address]:
            del self.per[address]

    def busy(self, conn: Shed) -> None:
        """`conn` is doing work (a request in progress): not to be shed."""
        self.sheddable.pop(conn, None)

    def waiting(self, conn: Shed) -> None:
        """`conn` waits for its client again: sheddable, newest."""
        if conn in self.addresses:
            self.sheddable.pop(conn, None)
            self.sheddable[conn] = None

    def __len__(self) -> int:
        return len(self.addresses)


def raise_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit where the system lets us; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def fit_caps(file_limit: int, *wanted: int) -> tuple[int, ...]:
    """The connection caps `wanted`, scaled down together so that they and a reserve fit under `file_limit`."""
    budget = file_limit - max(FD_RESERVE_MIN, file_limit // FD_RESERVE_SHARE)
    asked = sum(wanted)
    if asked <= budget:
        return tuple(wanted)
    return tuple(max(1, cap * max(budget, 0) // asked) for cap in wanted)
