"""Point reads (store/points.py) answer exactly as the pooled connections do, and give way to them on failure.

Runs over a temporary SQLite file, and also over PostgreSQL when CLOUDPBX_TEST_DB_URL is set.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3

import pytest

from cloudpbx.store import NotFound, new_id, open_store
from cloudpbx.store.points import PostgresPoints, SqlitePoints

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("CLOUDPBX_TEST_DB_URL") else [])


@pytest.fixture(params=BACKENDS)
async def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'points.db'}" if request.param == "sqlite" else os.environ["CLOUDPBX_TEST_DB_URL"]
    opened = await open_store(url)
    yield opened
    await opened.dispose()


async def test_point_and_pooled_reads_agree(store):
    account, key = new_id(), ("realm", new_id())
    async with store.write() as tx:
        await tx.put_account_row(
            account,
            parent_id=None,
            path=account,
            name="acme",
            realm="acme.r",
            enabled=False,
            superduper=True,
            reseller=False,
        )
        live = await tx.save({"_id": new_id(), "pvt_type": "device", "pvt_account_id": account, "sip": {"u": 1}}, [key])
        gone = await tx.save({"_id": new_id(), "pvt_type": "device", "pvt_account_id": account})
        await tx.soft_delete(gone)
    assert isinstance(store._points, (SqlitePoints, PostgresPoints))
    async with store.read() as tx:
        assert await store.find(account, live["_id"]) == await tx.find(account, live["_id"]) == live
        assert await store.find(account, gone["_id"]) is None
        assert await store.lookup(*key) == await tx.lookup(*key) == (account, live["_id"])
        pooled = await tx.account_row(account)
    point = await store.account_row(account)
    assert tuple(point) == tuple(pooled)
    assert (point.enabled, point.superduper, point.reseller) == (False, True, False)
    with pytest.raises(NotFound):
        await store.get(account, gone["_id"])


async def test_reads_fall_back_to_the_pool_when_the_point_reader_cannot_answer(store, tmp_path):
    account = new_id()
    async with store.write() as tx:
        saved = await tx.save({"_id": new_id(), "pvt_type": "thing", "pvt_account_id": account})
    await store._points.close()
    if isinstance(store._points, SqlitePoints):
        store._points.path = str(tmp_path)  # a folder: opening it fails, as a locked or broken file would
    else:
        store._points.dsn = "postgresql://nobody@127.0.0.1:1/none"  # nothing listens there
    assert await store.find(account, saved["_id"]) == saved
    assert await store.lookup("realm", "nowhere") is None
    assert await store.account_row(account) is None


async def test_sqlite_point_reads_see_this_process_writes_at_once_and_others_within_a_check(tmp_path):
    """Rows read are kept while no connection commits: another process's commit is seen once the last check is
    CHECK_S old, a commit of this process at once."""
    path = tmp_path / "turns.db"
    store = await open_store(f"sqlite:///{path}")

    def write_elsewhere(n: int) -> None:  # another process's commit
        with sqlite3.connect(path) as other:
            other.execute("UPDATE docs SET body = ? WHERE id = ?", (f'{{"n": {n}}}', doc["_id"]))

    async def n() -> int:
        return (await store.find(account, doc["_id"]))["n"]

    try:
        account = new_id()
        async with store.write() as tx:
            doc = await tx.save({"_id": new_id(), "pvt_type": "thing", "pvt_account_id": account, "n": 1})
        store._points.CHECK_S = 60.0
        assert await n() == 1
        write_elsewhere(2)
        await asyncio.sleep(0)
        assert await n() == 1  # from the memo: the last check is recent
        del store._points.CHECK_S  # back to short checks
        await asyncio.sleep(2 * store._points.CHECK_S)
        assert await n() == 2
        assert await n() == 2  # nothing changed since: from the memo again
        async with store.write() as tx:
            await tx.save({**doc, "n": 4, "_rev": (await tx.get(account, doc["_id"]))["_rev"]})
        assert await n() == 4
        key = ("realm", new_id())
        assert await store.lookup(*key) is None
        async with store.write() as tx:
            await tx.save({"_id": new_id(), "pvt_type": "thing", "pvt_account_id": account}, [key])
        assert await store.lookup(*key) is not None  # a missing row is not remembered past a commit
    finally:
        await store.dispose()
