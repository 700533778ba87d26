"""Checkpoints of a SQLite database's WAL on a thread of their own.

SQLite's default checkpoints run inside whichever commit takes the WAL past 1,000 pages: on the point reader's
connection that is the event loop's thread, which then copies some 4 MB of pages into the database and syncs it
while every call waits, and the copy grows dearer as the database grows. Here a thread with its own connection
runs a PASSIVE checkpoint (it never waits for a lock, never blocks a writer or reader) every PERIOD_S; sqlite3
leaves the GIL while it works, so the copy and the sync take the other core. Connections of a process that runs
one set `wal_autocheckpoint` to 0; other processes (a CLI command) keep SQLite's default, and a checkpoint that
finds another one running simply waits for the next period.

A PASSIVE checkpoint copies the frames that were there when it began; under a steady stream of commits new ones
always follow, the WAL is never wholly copied when the next writer begins, so it is never started over and would
grow without end (300 MB in a minute of 300 per-minute calls/s). Once it holds RESTART_FRAMES, the round ends with
a TRUNCATE checkpoint: it holds writers off (the quick writes give way to the pooled connections, which wait)
while it copies the few frames left, waits at most RESTART_WAIT_S for readers to leave the WAL, and empties it.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import suppress


class WalCheckpoints:
    PERIOD_S = 0.25  # at 300 per-minute calls/s some 2,500 pages reach the WAL in a period
    RESTART_FRAMES = 16_384  # 64 MB of 4 KB pages
    RESTART_WAIT_S = 0.05

    def __init__(self, path: str):
        self.path = path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop after the checkpoint in progress, if any (the last connection to close checkpoints what is left)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._stop.clear()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=self.RESTART_WAIT_S)
        try:
            conn.execute("PRAGMA synchronous = NORMAL")
            while not self._stop.wait(self.PERIOD_S):
                self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One round: copy what can be copied, and empty the WAL once it is long."""
        with suppress(sqlite3.Error):  # the database is busy or gone for now: the next period tries again
            _busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames >= self.RESTART_FRAMES:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
