"""The document store on its own: revisions, unique keys, soft deletes, listings, transactions, the account tree.

Runs over a temporary SQLite file, and also over PostgreSQL when CLOUDPBX_TEST_DB_URL is set (each test works in
fresh random account partitions, so it can share that database with a running server).
"""

from __future__ import annotations

import asyncio
import os

import pytest

from cloudpbx.store import Conflict, NotFound, Unavailable, UniqueViolation, new_id, open_store

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("CLOUDPBX_TEST_DB_URL") else [])


@pytest.fixture(scope="module", params=BACKENDS)
async def store(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
    else:
        url = os.environ["CLOUDPBX_TEST_DB_URL"]
    opened = await open_store(url)
    opened.url = url
    yield opened
    await opened.dispose()


def doc(account_id: str, doc_type: str = "thing", doc_id: str | None = None, **fields) -> dict:
    return {"_id": doc_id or new_id(), "pvt_type": doc_type, "pvt_account_id": account_id, **fields}


async def save(store, document: dict, keys=None, **kw) -> dict:
    async with store.write() as tx:
        return await tx.save(document, keys, **kw)


# Documents and revisions -------------------------------------------------------------------------------------------


async def test_save_and_read_back(store):
    account = new_id()
    body = {"name": "Zoë ☎", "nested": {"list": [1, 2.5, None, True], "big": 2**53 + 1}}
    saved = await save(store, doc(account, **body))
    assert saved["_rev"].startswith("1-")
    assert saved["pvt_created"] == saved["pvt_modified"] > 62167219200
    got = await store.get(account, saved["_id"])
    assert got == saved
    assert {k: got[k] for k in body} == body
    async with store.read() as tx:
        assert await tx.get(account, saved["_id"]) == saved


async def test_missing_documents(store):
    account = new_id()
    assert await store.find(account, new_id()) is None
    with pytest.raises(NotFound):
        await store.get(account, new_id())
    saved = await save(store, doc(account))
    assert await store.find(new_id(), saved["_id"]) is None, "documents are partitioned by account"


async def test_revisions_count_saves_and_stale_writes_conflict(store):
    account = new_id()
    first = await save(store, doc(account, n=1))
    stale = dict(first)
    second = await save(store, dict(first, n=2))
    assert second["_rev"].startswith("2-") and second["_rev"] != first["_rev"]
    assert second["pvt_created"] == first["pvt_created"]
    with pytest.raises(Conflict):
        await save(store, dict(stale, n=3))
    with pytest.raises(Conflict):
        await save(store, dict(second, n=4), expect_rev=first["_rev"])
    got = await store.get(account, first["_id"])
    assert got["n"] == 2 and got["_rev"] == second["_rev"]


async def test_inserting_an_existing_id_conflicts(store):
    account = new_id()
    saved = await save(store, doc(account, n=1))
    with pytest.raises(Conflict):
        await save(store, doc(account, doc_id=saved["_id"], n=2))
    assert (await store.get(account, saved["_id"]))["n"] == 1


async def test_same_body_saved_twice_still_moves_the_revision(store):
    account = new_id()
    saved = await save(store, doc(account, n=1))
    again = await save(store, dict(saved))
    assert again["_rev"].split("-")[0] == "2"


# Unique keys -------------------------------------------------------------------------------------------------------


async def test_unique_keys_are_held_and_reported(store):
    account, key = new_id(), ("sip", f"{new_id()}:bob")
    holder = await save(store, doc(account), [key])
    assert await store.lookup(*key) == (account, holder["_id"])
    other = doc(account)
    with pytest.raises(UniqueViolation) as raised:
        await save(store, other, [key])
    assert (raised.value.kind, raised.value.key, raised.value.holder) == (key[0], key[1], (account, holder["_id"]))
    assert await store.find(account, other["_id"]) is None, "the failed transaction stored nothing"


async def test_changing_keys_releases_the_old_ones(store):
    account, old, new = new_id(), ("name", new_id()), ("name", new_id())
    saved = await save(store, doc(account), [old])
    saved = await save(store, saved, [new])
    assert await store.lookup(*old) is None
    assert await store.lookup(*new) == (account, saved["_id"])
    await save(store, doc(account), [old])
    await save(store, saved)  # keys=None leaves the held keys alone
    assert await store.lookup(*new) == (account, saved["_id"])


async def test_keys_of_an_account(store):
    account = new_id()
    first = await save(store, doc(account), [("cf_number", "b"), ("cf_number", "a")])
    second = await save(store, doc(account), [("cf_number", "c"), ("other", "z")])
    async with store.read() as tx:
        assert await tx.keys(account, "cf_number") == [("a", first["_id"]), ("b", first["_id"]), ("c", second["_id"])]


# Soft delete and purge ---------------------------------------------------------------------------------------------


async def test_soft_delete_hides_the_document_and_frees_its_keys(store):
    account, key = new_id(), ("mailbox", new_id())
    saved = await save(store, doc(account, "vmbox"), [key])
    async with store.write() as tx:
        deleted = await tx.soft_delete(await tx.get(account, saved["_id"]))
    assert deleted["pvt_deleted"] is True and deleted["_rev"].startswith("2-")
    assert await store.find(account, saved["_id"]) is None
    async with store.read() as tx:
        assert (await tx.get(account, saved["_id"], deleted=True))["pvt_deleted"] is True
        assert await tx.list(account, "vmbox") == []
        assert await tx.get_many(account, [saved["_id"]]) == {}
        assert await tx.count(account, "vmbox") == 0
    assert await store.lookup(*key) is None
    await save(store, doc(account, "vmbox"), [key])


async def test_purge_removes_document_and_keys(store):
    account, key = new_id(), ("name", new_id())
    saved = await save(store, doc(account), [key])
    async with store.write() as tx:
        await tx.purge(account, saved["_id"])
    async with store.read() as tx:
        with pytest.raises(NotFound):
            await tx.get(account, saved["_id"], deleted=True)
    assert await store.lookup(*key) is None


# Listings ----------------------------------------------------------------------------------------------------------


async def test_list_in_id_order_with_start_and_limit(store):
    account = new_id()
    ids = sorted([(await save(store, doc(account, "menu")))["_id"] for _ in range(6)])
    await save(store, doc(account, "user"))
    await save(store, doc(new_id(), "menu"))
    async with store.read() as tx:
        assert [d["_id"] for d in await tx.list(account, "menu")] == ids
        assert [d["_id"] for d in await tx.list(account, "menu", limit=2)] == ids[:2]
        assert [d["_id"] for d in await tx.list(account, "menu", start=ids[3])] == ids[3:]
        assert [d["_id"] for d in await tx.list(account, "menu", start=ids[2], limit=2)] == ids[2:4]
        assert await tx.count(account, "menu") == 6
        found = await tx.get_many(account, [ids[0], ids[5], new_id()])
        assert set(found) == {ids[0], ids[5]}
        assert await tx.get_many(account, []) == {}


# Transactions ------------------------------------------------------------------------------------------------------


async def test_a_failed_transaction_stores_nothing(store):
    account = new_id()
    first, second = doc(account), doc(account)
    with pytest.raises(RuntimeError):
        async with store.write() as tx:
            await tx.save(first, [("name", new_id())])
            await tx.save(second)
            raise RuntimeError("abort")
    assert await store.find(account, first["_id"]) is None
    assert await store.find(account, second["_id"]) is None


async def test_writes_are_visible_to_readers_after_commit(store):
    account = new_id()
    saved = await save(store, doc(account, n=1))
    assert (await store.get(account, saved["_id"]))["n"] == 1
    await save(store, dict(saved, n=2))
    assert (await store.get(account, saved["_id"]))["n"] == 2


async def test_concurrent_writers_of_one_unique_key(store):
    account, key = new_id(), ("realm", f"{new_id()}.example.com")

    async def attempt() -> str:
        try:
            await save(store, doc(account), [key])
            return "saved"
        except UniqueViolation:
            return "taken"

    outcomes = await asyncio.gather(*(attempt() for _ in range(20)))
    assert sorted(outcomes) == ["saved"] + ["taken"] * 19
    async with store.read() as tx:
        assert await tx.count(account, "thing") == 1


async def test_concurrent_updates_of_one_revision(store):
    account = new_id()
    base = await save(store, doc(account, n=0))

    async def attempt(n: int) -> str:
        try:
            await save(store, dict(base, n=n))
            return "saved"
        except Conflict:
            return "conflict"

    outcomes = await asyncio.gather(*(attempt(n) for n in range(1, 21)))
    assert sorted(outcomes) == ["conflict"] * 19 + ["saved"]
    assert (await store.get(account, base["_id"]))["_rev"].startswith("2-")


# The account tree --------------------------------------------------------------------------------------------------


async def test_account_rows_and_paths(store):
    root, child, grandchild, lookalike = new_id(), new_id(), new_id(), new_id()
    rows = {
        root: (None, root),
        child: (root, f"{root}/{child}"),
        grandchild: (child, f"{root}/{child}/{grandchild}"),
        lookalike: (None, f"{root}x/{lookalike}"),
    }
    async with store.write() as tx:
        for ident, (parent, path) in rows.items():
            await tx.put_account_row(
                ident,
                parent_id=parent,
                path=path,
                name=f"n{ident[:4]}",
                realm=f"{ident}.r",
                enabled=True,
                superduper=False,
                reseller=False,
            )
    async with store.read() as tx:
        under = [r.account_id for r in await tx.account_rows_under(root)]
        assert under == [child, grandchild]
        assert [r.account_id for r in await tx.child_rows(root)] == [child]
    assert (await store.account_row(child)).path == f"{root}/{child}"
    async with store.write() as tx:
        await tx.put_account_row(child, name="renamed", enabled=False)
    row = await store.account_row(child)
    assert row.name == "renamed" and row.enabled is False and row.parent_id == root


async def test_deleting_an_account_removes_everything_it_held(store):
    account, key = new_id(), ("realm", new_id())
    async with store.write() as tx:
        await tx.put_account_row(
            account,
            parent_id=None,
            path=account,
            name="gone",
            realm="gone.r",
            enabled=True,
            superduper=False,
            reseller=False,
        )
    saved = await save(store, doc(account), [key])
    async with store.write() as tx:
        await tx.delete_account_rows(account)
    assert await store.account_row(account) is None
    assert await store.find(account, saved["_id"]) is None
    assert await store.lookup(*key) is None


# Opening -----------------------------------------------------------------------------------------------------------


async def test_opening_again_keeps_the_data(store):
    account = new_id()
    saved = await save(store, doc(account, n=7))
    again = await open_store(store.url)
    try:
        assert (await again.get(account, saved["_id"]))["n"] == 7
    finally:
        await again.dispose()


@pytest.mark.parametrize("url", ["mysql://localhost/x", "not a url", "postgresql://127.0.0.1:1/none"])
async def test_unusable_database_urls_are_unavailable(url):
    with pytest.raises(Unavailable):
        await open_store(url)
