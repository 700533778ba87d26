"""The WAL of a served SQLite database is checkpointed by a thread of its own (store/wal_checkpoints.py), never by
a commit on the event loop's thread, and stays small however much the quick writes write: once long, it is emptied
even under a steady stream of commits."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from cloudpbx.store import open_store
from cloudpbx.store.wal_checkpoints import WalCheckpoints

ROUNDS, ROWS, ROW_BYTES = 10, 200, 4000  # 800 KB a round, 8 MB in all


def _wal_bytes(path: Path) -> int:
    return Path(f"{path}-wal").stat().st_size


async def test_quick_writes_leave_checkpoints_to_their_thread_and_the_wal_stays_small(tmp_path: Path):
    path = tmp_path / "wal.db"
    store = await open_store(f"sqlite:///{path}")
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE scratch (n INTEGER PRIMARY KEY, blob BLOB)")
    try:
        largest = 0
        for round_ in range(ROUNDS):
            rows = [(round_ * ROWS + i, bytes(ROW_BYTES)) for i in range(ROWS)]
            await store.quick_write([], lambda _rows, rows=rows: (None, [("INSERT INTO scratch VALUES (?, ?)", rows)]))
            largest = max(largest, _wal_bytes(path))
            await asyncio.sleep(0.35)  # more than a checkpoint period
        points = store._points
        thread = points._checkpoints._thread
        assert thread is not None and thread.is_alive() and thread is not threading.current_thread()
        conn = points._conn  # the loop thread's connection: its commits never checkpoint
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    finally:
        await store.dispose()
    assert largest < 3_000_000, largest  # without the thread the WAL would hold all 8 MB
    assert not thread.is_alive()
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*), sum(length(blob)) FROM scratch").fetchone() == (
            ROUNDS * ROWS,
            ROUNDS * ROWS * ROW_BYTES,
        )


def test_a_round_copies_a_short_wal_and_empties_a_long_one(tmp_path: Path):
    path = tmp_path / "long.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE scratch (n INTEGER PRIMARY KEY, blob BLOB)")
    checkpoints = WalCheckpoints(str(path))
    checkpoints.RESTART_FRAMES = 1_000
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for start, count in ((0, ROWS * 3), (ROWS * 3, ROWS * 6)):
            rows = [(start + i, bytes(ROW_BYTES)) for i in range(count)]
            with writer:  # one transaction: a frame a row
                writer.execute("BEGIN")
                writer.executemany("INSERT INTO scratch VALUES (?, ?)", rows)
            checkpoints.checkpoint(conn)
            if start == 0:  # about 600 frames: copied, and the file left as it is for the next writer to reuse
                assert _wal_bytes(path) > ROWS * 3 * ROW_BYTES
        assert _wal_bytes(path) == 0  # about 1,200 frames: emptied
        assert writer.execute("SELECT count(*) FROM scratch").fetchone() == (ROWS * 9,)
    finally:
        conn.close()
        writer.close()
