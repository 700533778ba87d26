"""The request hot path: few SQL statements per request, none per listed item, and caches that writes refresh.

A second server runs with CLOUDPBX_COUNT_SQL=1, which reports each request's statements in x-sql-statements.
"""

from __future__ import annotations

import asyncio

import pytest

from cloudpbx.store import open_store
from tests.conftest import db_url, start_server, stop_server
from tests.helpers import ADMIN_PASSWORD, Client, unique


@pytest.fixture(scope="module")
def counting(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("counting")
    proc, base = start_server(data_dir, db_url(data_dir), extra_env={"CLOUDPBX_COUNT_SQL": "1"})
    try:
        client = Client(base)
        client.login("admin", ADMIN_PASSWORD, account_name="Master Account")
        yield client
    finally:
        stop_server(proc)


def statements(response) -> int:
    assert response.status_code == 200, response.text
    return int(response.headers["x-sql-statements"])


def test_listing_runs_the_same_statements_for_3_or_30_devices(counting):
    counts = []
    for size in (3, 30):
        account = counting.create_account(counting.account_id)
        for i in range(size):
            counting.create(account["id"], "devices", {"name": f"Desk {i}", "sip": {"username": f"d{i}"}})
        listing = counting.get(f"accounts/{account['id']}/devices?paginate=false")
        assert len(listing.json()["data"]) == size
        counts.append(statements(listing))
    assert counts[0] == counts[1]


def test_a_device_read_is_one_statement_once_the_caller_is_known(counting):
    account = counting.create_account(counting.account_id)
    user = counting.create(account["id"], "users", {"first_name": "O", "last_name": "Wner", "username": "owner"})
    device = counting.create(account["id"], "devices", {"name": "Desk", "owner_id": user["id"]})
    path = f"accounts/{account['id']}/devices/{device['id']}"
    counting.get(path)
    assert statements(counting.get(path)) <= 2  # SQLite reads it inline (1); a pooled read adds its BEGIN


def test_no_statement_count_unless_asked(master):
    assert "x-sql-statements" not in master.get(f"accounts/{master.account_id}").headers


def test_a_demoted_admin_loses_admin_rights_at_once(server, master):
    account = master.create_account(master.account_id)
    admin = master.admin_of(account["id"], username="boss")
    assert admin.put(f"accounts/{account['id']}/users", {"first_name": "A", "last_name": "B"}).status_code == 201
    change = master.patch(f"accounts/{account['id']}/users/{admin.owner_id}", {"priv_level": "user"})
    assert change.status_code == 200
    refused = admin.put(f"accounts/{account['id']}/users", {"first_name": "C", "last_name": unique("D")})
    assert refused.status_code == 403


def test_a_read_sees_what_another_process_committed(server, master):
    """GETs reuse rows and decoded views while nothing changes; a commit by another process is seen at once."""
    account = master.create_account(master.account_id)
    device = master.create(account["id"], "devices", {"name": "Desk"})
    path = f"accounts/{account['id']}/devices/{device['id']}"
    first, again = master.get(path), master.get(path)
    assert first.json()["data"] == again.json()["data"]

    async def rename() -> None:
        store = await open_store(server[2])
        try:
            async with store.write() as tx:
                await tx.save({**await tx.get(account["id"], device["id"]), "name": "Renamed elsewhere"})
        finally:
            await store.dispose()

    asyncio.run(rename())
    changed = master.get(path)
    assert changed.json()["data"]["name"] == "Renamed elsewhere"
    assert changed.json()["revision"] != first.json()["revision"]
    assert master.get(f"accounts/{account['id']}/users/{device['id']}").status_code == 404  # a view keeps its type
