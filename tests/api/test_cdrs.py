"""Call detail records: legs recorded through the service (as the call engine will), read over HTTP.

The legs are written in-process to the session server's own database. Account P holds five calls of two legs
each around the turn of January 2024, so its listings cross a month; its child K and its sibling S test who may
read what.
"""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pytest

from cloudpbx.accounts import cdrs
from cloudpbx.errors import Conflicting, Invalid, Missing
from cloudpbx.ids import GREGORIAN_OFFSET
from cloudpbx.store import cdrs as cdr_table
from cloudpbx.store import gregorian_now, open_store
from tests.helpers import Client, unique

JAN_31_23H = 1706742000 + GREGORIAN_OFFSET  # 2024-01-31 23:00:00 UTC in Gregorian seconds
RANGE = {"created_from": JAN_31_23H - 86400, "created_to": JAN_31_23H + 86400}
CALLS = 5


def call_legs(n: int, start: int, owner_id: str, device_id: str) -> list[dict]:
    """A device's call to extension 20n: its inbound leg and the outbound leg to the callee."""
    interaction = f"{start}-{n:08x}"
    answered = n != 3
    end = start + 60
    inbound = {
        "call_id": f"in-{n}-{start}@10.0.0.1",
        "call_direction": "inbound",
        "interaction_id": interaction,
        "caller_id_name": "Alice",
        "caller_id_number": "100",
        "callee_id_number": f"20{n}",
        "from": "100@p.realm",
        "to": f"20{n}@p.realm",
        "request": f"20{n}@p.realm",
        "start_timestamp": start,
        "end_timestamp": end,
        "authorizing_id": device_id,
        "owner_id": owner_id,
        "authorizing_type": "device",
        "hangup_cause": "NORMAL_CLEARING" if answered else "NO_ANSWER",
        "hangup_code": 200 if answered else 480,
        "media_server": "node1",
    }
    outbound = {
        "call_id": f"out-{n}-{start}",
        "call_direction": "outbound",
        "interaction_id": interaction,
        "other_leg_call_id": inbound["call_id"],
        "bridge_id": inbound["call_id"],
        "caller_id_name": "Alice",
        "caller_id_number": "100",
        "callee_id_number": f"20{n}",
        "from": "100@p.realm",
        "to": f"20{n}@p.realm",
        "request": f"20{n}@p.realm",
        "start_timestamp": start + 0.5,
        "end_timestamp": end,
        "hangup_cause": "NORMAL_CLEARING" if answered else "NO_ANSWER",
    }
    if answered:
        inbound["answer_timestamp"] = outbound["answer_timestamp"] = start + 10
    return [inbound, outbound]


@pytest.fixture(scope="module")
async def world(server, master):
    root = master.account_id
    p = master.create_account(root, unique("Cdr P"))["id"]
    k = master.create_account(p, unique("Cdr K"))["id"]
    s = master.create_account(root, unique("Cdr S"))["id"]
    p_admin, k_admin, s_admin = master.admin_of(p), master.admin_of(k), master.admin_of(s)
    alice = master.create(
        p,
        "users",
        {
            "first_name": "Alice",
            "last_name": "Caller",
            "username": "alice",
            "password": "alice-pass-1",
            "priv_level": "user",
        },
    )
    bob = master.create(
        p, "users", {"first_name": "Bob", "last_name": "Other", "username": "bob", "password": "bob-pass-1"}
    )
    alice_client = Client(server[0])
    alice_client.login("alice", "alice-pass-1", account_realm=master.get(f"accounts/{p}").json()["data"]["realm"])
    store = await open_store(server[2])
    recorded = []
    for n in range(CALLS):
        # 40 minutes apart: calls 0-1 are in January, calls 2-4 in February
        for leg in call_legs(n, JAN_31_23H + 2400 * n - 1000, alice["id"], "d" * 32):
            recorded.append(await cdrs.record_leg(store, p, leg))
    now = gregorian_now()
    recent = await cdrs.record_leg(
        store,
        k,
        {
            "call_id": f"recent-{k}",
            "call_direction": "inbound",
            "start_timestamp": now - 120,
            "end_timestamp": now - 60,
        },
    )
    old = await cdrs.record_leg(
        store,
        k,
        {
            "call_id": f"old-{k}",
            "call_direction": "inbound",
            "start_timestamp": now - 40 * 86400,
            "end_timestamp": now - 40 * 86400 + 9,
        },
    )
    yield SimpleNamespace(
        store=store,
        p=p,
        k=k,
        s=s,
        p_admin=p_admin,
        k_admin=k_admin,
        s_admin=s_admin,
        alice=alice,
        bob=bob,
        alice_client=alice_client,
        legs=recorded,
        recent=recent,
        old=old,
    )
    await store.dispose()


def listed(client: Client, path: str, **params) -> dict:
    resp = client.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def walk(client: Client, path: str, **params) -> tuple[list[dict], int]:
    """Every row of a listing, following next_start_key; and how many pages it took."""
    rows, pages, start = [], 0, None
    while True:
        body = listed(client, path, **params, **({"start_key": start} if start else {}))
        assert body["page_size"] == len(body["data"])
        if start:
            assert body["start_key"] == start
        rows += body["data"]
        pages += 1
        start = body.get("next_start_key")
        if not start:
            return rows, pages


# Recording -----------------------------------------------------------------------------------------------------


async def test_a_recorded_leg_gets_its_month_id_durations_and_channel_vars(world):
    inbound = world.legs[0]
    assert inbound["id"] == f"202401-{inbound['call_id']}"
    assert (inbound["duration_seconds"], inbound["billing_seconds"], inbound["ringing_seconds"]) == (60, 50, 10)
    assert inbound["hangup_code"] == "sip:200" and inbound["timestamp"] == inbound["end_timestamp"]
    assert inbound["custom_channel_vars"] == {
        "authorizing_id": "d" * 32,
        "authorizing_type": "device",
        "owner_id": world.alice["id"],
        "account_id": world.p,
    }
    assert "owner_id" not in inbound and "answer_timestamp" in inbound
    unanswered = world.legs[7]
    assert unanswered["billing_seconds"] == 0 and "answer_timestamp" not in unanswered
    assert world.legs[-1]["id"].startswith("202402-")


async def test_bad_and_repeated_legs_are_refused(world):
    with pytest.raises(Invalid) as bad:
        await cdrs.record_leg(
            world.store,
            world.p,
            {"call_id": "x", "call_direction": "sideways", "start_timestamp": JAN_31_23H, "end_timestamp": "later"},
        )
    assert set(bad.value.data) == {"call_direction", "end_timestamp"}
    with pytest.raises(Invalid) as backwards:
        await cdrs.record_leg(
            world.store,
            world.p,
            {
                "call_id": "x",
                "call_direction": "inbound",
                "start_timestamp": JAN_31_23H,
                "end_timestamp": JAN_31_23H - 1,
            },
        )
    assert "minimum" in backwards.value.data["end_timestamp"]
    first = world.legs[0]
    again = {
        "call_id": first["call_id"],
        "call_direction": "inbound",
        "start_timestamp": first["start_timestamp"],
        "end_timestamp": first["end_timestamp"],
    }
    with pytest.raises(Conflicting):
        await cdrs.record_leg(world.store, world.p, again)


async def test_the_writer_stores_legs_in_batches_and_a_repeated_leg_loses_no_other(world):
    """The call engine's background writer: 300 legs queued at once are all stored; a batch holding a leg whose
    call already has a CDR, and an invalid leg, keep every other leg of the batch."""
    writer = cdrs.CdrWriter(world.store)
    writer.start()
    try:
        start = gregorian_now() - 3600
        tag = unique("batch")

        def leg(n: int) -> dict:
            return {
                "call_id": f"{tag}-{n}",
                "call_direction": "inbound",
                "start_timestamp": start + n,
                "end_timestamp": start + n + 5,
                "caller_id_number": "100",
            }

        for n in range(300):
            writer.record(world.k, leg(n))
        await writer.flushed()
        writer.record(world.k, leg(0))  # already stored
        writer.record(world.k, {"call_id": f"{tag}-bad", "call_direction": "sideways"})  # dropped at once
        writer.record(world.k, leg(300))
        await writer.flushed()
    finally:
        await writer.close()
    rows = listed(
        world.k_admin, f"accounts/{world.k}/cdrs", paginate="false", created_from=start, created_to=start + 400
    )["data"]
    mine = sorted(int(row["call_id"].rsplit("-", 1)[1]) for row in rows if row["call_id"].startswith(tag))
    assert mine == list(range(301))


async def test_a_call_id_a_path_cannot_carry_is_hashed_into_the_id(world):
    leg = await cdrs.record_leg(
        world.store,
        world.k,
        {
            "call_id": "a/b?c#d",
            "call_direction": "outbound",
            "start_timestamp": JAN_31_23H,
            "end_timestamp": JAN_31_23H + 1,
        },
    )
    assert leg["id"].startswith("202401-") and "/" not in leg["id"]
    got = world.k_admin.get(f"accounts/{world.k}/cdrs/{leg['id']}")
    assert got.status_code == 200 and got.json()["data"]["call_id"] == "a/b?c#d"


# Listing legs ------------------------------------------------------------------------------------------------------


def test_the_listing_crosses_months_newest_first_in_kazoo_columns(world):
    rows = listed(world.p_admin, f"accounts/{world.p}/cdrs", **RANGE)["data"]
    assert len(rows) == 2 * CALLS
    assert {row["id"][:6] for row in rows} == {"202401", "202402"}
    ends = [cdrs_end(world, row["id"]) for row in rows]
    assert ends == sorted(ends, reverse=True)
    row = next(r for r in rows if r["id"] == world.legs[0]["id"])
    assert row["timestamp"] == str(world.legs[0]["start_timestamp"]) and row["datetime"] == "2024-01-31 22:43:20"
    assert row["direction"] == "inbound" and row["authorizing_id"] == "d" * 32
    assert row["owner_id"] == world.alice["id"] and row["dialed_number"] == "200" and row["calling_from"] == "100"
    assert (row["duration_seconds"], row["billing_seconds"], row["hangup_cause"]) == (60, 50, "NORMAL_CLEARING")
    assert row["interaction_id"] == world.legs[0]["interaction_id"] and row["media_server"] == "node1"
    outbound = next(r for r in rows if r["id"] == world.legs[1]["id"])
    assert outbound["bridge_id"] == outbound["other_leg_call_id"] == world.legs[0]["call_id"]


def cdrs_end(world, cdr_id: str) -> tuple[int, str]:
    leg = next(leg for leg in world.legs if leg["id"] == cdr_id)
    return leg["end_timestamp"], cdr_id


def test_pages_follow_next_start_key_across_months_without_gaps(world):
    everything = listed(world.p_admin, f"accounts/{world.p}/cdrs", **RANGE)["data"]
    paged, pages = walk(world.p_admin, f"accounts/{world.p}/cdrs", page_size=3, **RANGE)
    assert [r["id"] for r in paged] == [r["id"] for r in everything] and pages == 4
    ascending, _ = walk(world.p_admin, f"accounts/{world.p}/cdrs", page_size=4, ascending="true", **RANGE)
    assert [r["id"] for r in ascending] == [r["id"] for r in reversed(everything)]
    assert "next_start_key" not in listed(world.p_admin, f"accounts/{world.p}/cdrs", paginate="false", **RANGE)


def test_filters_apply_to_the_legs_before_paging(world):
    rows, _ = walk(world.p_admin, f"accounts/{world.p}/cdrs", page_size=1, filter_hangup_cause="NO_ANSWER", **RANGE)
    assert [r["call_id"] for r in rows] == [world.legs[7]["call_id"], world.legs[6]["call_id"]]


def test_without_a_range_the_last_maximum_range_is_listed(world):
    rows = listed(world.k_admin, f"accounts/{world.k}/cdrs")["data"]
    ids = [row["id"] for row in rows]
    assert world.recent["id"] in ids and world.old["id"] not in ids
    month_ago = listed(
        world.k_admin,
        f"accounts/{world.k}/cdrs",
        created_from=gregorian_now() - 41 * 86400,
        created_to=gregorian_now() - 30 * 86400,
    )["data"]
    assert [row["id"] for row in month_ago] == [world.old["id"]]


@pytest.mark.parametrize(
    "params",
    [
        {"created_from": JAN_31_23H, "created_to": JAN_31_23H - 1},
        {"created_from": JAN_31_23H, "created_to": JAN_31_23H + 2682001},
        {"created_from": gregorian_now() - 2682100},
    ],
)
def test_a_reversed_or_too_long_range_is_a_date_range_error(world, params):
    for noun in ("cdrs", "cdrs/interaction"):
        resp = world.p_admin.get(f"accounts/{world.p}/{noun}", params=params)
        assert resp.status_code == 400 and resp.json()["message"] == "validation error"
        assert "message" in resp.json()["data"]["created_from"]["date_range"]
    ok = world.p_admin.get(
        f"accounts/{world.p}/cdrs", params={"created_from": JAN_31_23H, "created_to": JAN_31_23H + 2682000}
    )
    assert ok.status_code == 200


def test_bad_range_values_and_start_keys_are_validation_errors(world):
    resp = world.p_admin.get(f"accounts/{world.p}/cdrs", params={"created_from": "yesterday"})
    assert resp.status_code == 400 and "type" in resp.json()["data"]["created_from"]
    resp = world.p_admin.get(f"accounts/{world.p}/cdrs", params={"start_key": "not-a-key"})
    assert resp.status_code == 400 and "start_key" in resp.json()["data"]


def test_csv_has_every_leg_of_the_range_and_a_file_name(world):
    resp = world.p_admin.get(
        f"accounts/{world.p}/cdrs", params={**RANGE, "page_size": 2}, headers={"Accept": "text/csv"}
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"] == 'attachment; filename="cdrs.csv"'
    table = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(table) == 2 * CALLS
    assert list(table[0])[:4] == ["id", "call_id", "caller_id_number", "caller_id_name"]
    assert {row["hangup_cause"] for row in table} == {"NORMAL_CLEARING", "NO_ANSWER"}
    named = world.p_admin.get(f"accounts/{world.p}/cdrs", params={**RANGE, "accept": "csv", "file_name": "jan.csv"})
    assert named.headers["content-disposition"] == 'attachment; filename="jan.csv"'


# One CDR, interactions and legs -----------------------------------------------------------------------------------


def test_one_cdr_is_the_whole_document(world):
    leg = world.legs[1]
    resp = world.p_admin.get(f"accounts/{world.p}/cdrs/{leg['id']}")
    assert resp.status_code == 200
    assert resp.json()["data"] == leg
    for missing in ("202401-nothing-here", "not-a-cdr-id", "202413-bad-month"):
        gone = world.p_admin.get(f"accounts/{world.p}/cdrs/{missing}")
        assert gone.status_code == 404 and gone.json()["message"] == "bad_identifier"


def test_interactions_are_one_row_per_call_from_its_first_leg(world):
    body = listed(world.p_admin, f"accounts/{world.p}/cdrs/interaction", **RANGE)
    rows = body["data"]
    assert [r["interaction_id"] for r in rows] == [world.legs[2 * n]["interaction_id"] for n in reversed(range(CALLS))]
    assert all(r["leg_count"] == 2 and r["direction"] == "inbound" for r in rows)
    assert all(r["inception_direction"] == "origination" and "channel_created_time" not in r for r in rows)
    paged, pages = walk(world.p_admin, f"accounts/{world.p}/cdrs/interaction", page_size=2, **RANGE)
    assert [r["id"] for r in paged] == [r["id"] for r in rows] and pages == 3


def test_legs_of_an_interaction_by_its_id_or_a_cdr_id(world):
    inbound, outbound = world.legs[4], world.legs[5]
    by_interaction = listed(world.p_admin, f"accounts/{world.p}/cdrs/legs/{inbound['interaction_id']}")["data"]
    assert [leg["id"] for leg in by_interaction] == [inbound["id"], outbound["id"]]
    assert by_interaction[0]["custom_channel_vars"]["authorizing_id"] == "d" * 32
    assert by_interaction[0]["channel_created_time"] < by_interaction[1]["channel_created_time"]
    by_cdr = listed(world.p_admin, f"accounts/{world.p}/cdrs/legs/{outbound['id']}")["data"]
    assert by_cdr == by_interaction
    assert world.p_admin.get(f"accounts/{world.p}/cdrs/legs/63000000000-nothing").status_code == 404
    assert world.p_admin.get(f"accounts/{world.p}/cdrs/legs").status_code == 404


# Users ------------------------------------------------------------------------------------------------------------


def test_a_users_cdrs_are_the_legs_they_own(world):
    rows = listed(world.p_admin, f"accounts/{world.p}/users/{world.alice['id']}/cdrs", **RANGE)["data"]
    assert sorted(r["id"] for r in rows) == sorted(leg["id"] for leg in world.legs[::2])
    calls = listed(world.p_admin, f"accounts/{world.p}/users/{world.alice['id']}/cdrs/interaction", **RANGE)["data"]
    assert len(calls) == CALLS and all(r["owner_id"] == world.alice["id"] and r["leg_count"] == 2 for r in calls)
    assert listed(world.p_admin, f"accounts/{world.p}/users/{world.bob['id']}/cdrs", **RANGE)["data"] == []
    assert world.p_admin.get(f"accounts/{world.p}/users/{'e' * 32}/cdrs").status_code == 404


def test_a_user_reads_their_own_calls_and_nobody_elses(world):
    own = world.alice_client.get(f"accounts/{world.p}/users/{world.alice['id']}/cdrs", params=RANGE)
    assert own.status_code == 200 and len(own.json()["data"]) == CALLS
    for path in (
        f"accounts/{world.p}/cdrs",
        f"accounts/{world.p}/users/{world.bob['id']}/cdrs",
        f"accounts/{world.p}/cdrs/{world.legs[0]['id']}",
    ):
        assert world.alice_client.get(path, params=RANGE).status_code == 403, path


# Isolation --------------------------------------------------------------------------------------------------------


def test_accounts_see_only_their_own_and_their_descendants_cdrs(world):
    assert world.s_admin.get(f"accounts/{world.p}/cdrs", params=RANGE).status_code == 403
    assert world.s_admin.get(f"accounts/{world.p}/cdrs/{world.legs[0]['id']}").status_code == 403
    assert world.k_admin.get(f"accounts/{world.p}/cdrs/interaction", params=RANGE).status_code == 403
    foreign = world.p_admin.get(f"accounts/{world.p}/cdrs/{world.recent['id']}")
    assert foreign.status_code == 404
    assert world.s_admin.get(f"accounts/{world.s}/cdrs/{world.legs[0]['id']}").status_code == 404
    assert world.s_admin.get(f"accounts/{world.s}/cdrs/legs/{world.legs[0]['interaction_id']}").status_code == 404
    assert listed(world.s_admin, f"accounts/{world.s}/cdrs", **RANGE)["data"] == []
    below = listed(world.p_admin, f"accounts/{world.k}/cdrs")["data"]
    assert world.recent["id"] in [row["id"] for row in below]


def test_cdrs_are_read_only(world):
    assert world.p_admin.put(f"accounts/{world.p}/cdrs", {"call_id": "x"}).status_code == 405
    assert world.p_admin.delete(f"accounts/{world.p}/cdrs/{world.legs[0]['id']}").status_code == 405
    assert world.p_admin.get(f"accounts/{world.p}/cdrs/legs/a/b").status_code == 404


async def test_deleting_an_account_deletes_its_cdrs(world, master):
    gone = master.create_account(master.account_id, unique("Cdr gone"))["id"]
    leg = await cdrs.record_leg(
        world.store,
        gone,
        {
            "call_id": f"gone-{gone}",
            "call_direction": "inbound",
            "start_timestamp": JAN_31_23H,
            "end_timestamp": JAN_31_23H + 5,
        },
    )
    assert (await cdrs.get(world.store, gone, leg["id"]))["call_id"] == leg["call_id"]
    assert master.delete(f"accounts/{gone}").status_code == 200
    with pytest.raises(Missing):
        await cdrs.get(world.store, gone, leg["id"])


async def test_legs_of_many_interactions_are_read_in_chunks(world):
    wanted = [leg["interaction_id"] for leg in world.legs[::2]]
    asked = wanted + [f"{JAN_31_23H - 2200 + 7 * n}-filler" for n in range(3 * cdr_table.CHUNK)]  # interleaved
    async with world.store.read() as tx:
        found = await cdr_table.legs(tx, world.p, asked)
    assert sorted(doc["_id"] for doc in found) == sorted(leg["id"] for leg in world.legs)
