"""SQLite point reads on the loop's thread (store/inline.py) answer exactly as the pooled connections do."""

from __future__ import annotations

import pytest

from cloudpbx.store import NotFound, new_id, open_store


@pytest.fixture
async def store(tmp_path):
    opened = await open_store(f"sqlite:///{tmp_path / 'inline.db'}")
    yield opened
    await opened.dispose()


async def test_inline_and_pooled_reads_agree(store):
    account, key = new_id(), ("realm", new_id())
    async with store.write() as tx:
        await tx.put_account_row(account, parent_id=None, path=account, name="acme", realm="acme.r", enabled=False,
                                 superduper=True, reseller=False)
        live = await tx.save({"_id": new_id(), "pvt_type": "device", "pvt_account_id": account, "sip": {"u": 1}}, [key])
        gone = await tx.save({"_id": new_id(), "pvt_type": "device", "pvt_account_id": account})
        await tx.soft_delete(gone)
    assert store._inline is not None
    async with store.read() as tx:
        assert await store.find(account, live["_id"]) == await tx.find(account, live["_id"]) == live
        assert await store.find(account, gone["_id"]) is None
        assert await store.lookup(*key) == await tx.lookup(*key) == (account, live["_id"])
        pooled = await tx.account_row(account)
    inline = await store.account_row(account)
    assert tuple(inline) == tuple(pooled)
    assert (inline.enabled, inline.superduper, inline.reseller) == (False, True, False)
    with pytest.raises(NotFound):
        await store.get(account, gone["_id"])


async def test_reads_fall_back_to_the_pool_when_sqlite_cannot_answer_inline(store, tmp_path):
    account = new_id()
    async with store.write() as tx:
        saved = await tx.save({"_id": new_id(), "pvt_type": "thing", "pvt_account_id": account})
    store._inline.close()
    store._inline.path = str(tmp_path)  # a folder: opening it fails, as a locked or broken file would
    assert await store.find(account, saved["_id"]) == saved
    assert await store.lookup("realm", "nowhere") is None
    assert await store.account_row(account) is None
