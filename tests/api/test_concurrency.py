"""Concurrent writers: unique keys hold (one 201, the rest 400 unique errors, never 500), and no update is lost."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest

WRITERS = 20


def tag() -> str:
    return secrets.token_hex(4)


async def burst(master, method: str, path: str, bodies: list[dict]) -> list[httpx.Response]:
    """Send every body at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(
        base_url=master.base, headers={"X-Auth-Token": master.token}, timeout=60, limits=limits
    ) as client:
        return await asyncio.gather(*(client.request(method, path, json={"data": b}) for b in bodies))


def assert_one_winner(responses: list[httpx.Response], field: str) -> dict:
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [400] * (len(responses) - 1), [r.text for r in responses if r.status_code not in (201, 400)]
    for resp in responses:
        if resp.status_code == 400:
            body = resp.json()
            assert body["message"] == "validation error"
            assert "unique" in body["data"][field], body["data"]
    return next(r for r in responses if r.status_code == 201).json()["data"]


@pytest.fixture(scope="module")
def acct(master) -> str:
    return master.create_account(master.account_id)["id"]


def listed(master, account_id: str, noun: str) -> list[dict]:
    return master.get(f"accounts/{account_id}/{noun}?paginate=false").json()["data"]


async def test_same_account_name(master):
    parent = master.create_account(master.account_id)["id"]
    name = f"Race {tag()}"
    responses = await burst(master, "PUT", f"accounts/{parent}", [{"name": name}] * WRITERS)
    winner = assert_one_winner(responses, "name")
    children = master.get(f"accounts/{parent}/children").json()["data"]
    assert [c["id"] for c in children if c["name"] == name] == [winner["id"]]


async def test_same_realm(master):
    parent = master.create_account(master.account_id)["id"]
    realm = f"race-{tag()}.example.com"
    bodies = [{"name": f"Realm race {tag()}", "realm": realm} for _ in range(WRITERS)]
    winner = assert_one_winner(await burst(master, "PUT", f"accounts/{parent}", bodies), "realm")
    children = master.get(f"accounts/{parent}/children").json()["data"]
    assert [c["id"] for c in children if c["realm"] == realm] == [winner["id"]]


async def test_same_sip_username(master, acct):
    username = f"race{tag()}"
    bodies = [{"name": f"Phone {i}", "sip": {"username": username, "password": "race-pass"}} for i in range(WRITERS)]
    winner = assert_one_winner(await burst(master, "PUT", f"accounts/{acct}/devices", bodies), "sip.username")
    holders = [d["id"] for d in listed(master, acct, "devices") if d.get("username") == username]
    assert holders == [winner["id"]]


async def test_same_callflow_number(master, acct):
    number = f"8{int(tag(), 16) % 10**5:05d}"
    bodies = [{"name": f"Flow {i}", "numbers": [number]} for i in range(WRITERS)]
    winner = assert_one_winner(await burst(master, "PUT", f"accounts/{acct}/callflows", bodies), "numbers")
    holders = [c["id"] for c in listed(master, acct, "callflows") if number in c["numbers"]]
    assert holders == [winner["id"]]


async def test_same_owned_phone_number(master, acct):
    """A DID marks its number document as used by the callflow: the losers must still get the unique error."""
    number = f"+1415{2_000_000 + secrets.randbelow(7_000_000)}"
    assert master.put(f"accounts/{acct}/phone_numbers/{number.replace('+', '%2B')}", {}).status_code == 201
    bodies = [{"name": f"Did flow {i}", "numbers": [number]} for i in range(WRITERS)]
    winner = assert_one_winner(await burst(master, "PUT", f"accounts/{acct}/callflows", bodies), "numbers")
    holders = [c["id"] for c in listed(master, acct, "callflows") if number in c["numbers"]]
    assert holders == [winner["id"]]


async def test_same_username(master, acct):
    username = f"race{tag()}"
    bodies = [{"first_name": "R", "last_name": str(i), "username": username} for i in range(WRITERS)]
    winner = assert_one_winner(await burst(master, "PUT", f"accounts/{acct}/users", bodies), "username")
    holders = [u["id"] for u in listed(master, acct, "users") if u.get("username") == username]
    assert holders == [winner["id"]]


async def test_same_mailbox(master, acct):
    mailbox = f"{int(tag(), 16) % 10**6}"
    bodies = [{"name": f"Box {i}", "mailbox": mailbox} for i in range(WRITERS)]
    winner = assert_one_winner(await burst(master, "PUT", f"accounts/{acct}/vmboxes", bodies), "mailbox")
    assert [v["id"] for v in listed(master, acct, "vmboxes") if v["mailbox"] == mailbox] == [winner["id"]]


async def test_concurrent_patches_lose_nothing(master, acct):
    menu = master.create(acct, "menus", {"name": "Hot doc"})
    path = f"accounts/{acct}/menus/{menu['id']}"
    bodies = [{f"field_{i}": i} for i in range(WRITERS)]
    responses = await burst(master, "PATCH", path, bodies)
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 409}, [r.text for r in responses if r.status_code not in (200, 409)]
    got = master.get(path)
    assert got.status_code == 200
    data = got.json()["data"]
    assert data["name"] == "Hot doc"
    applied = {i for i, code in enumerate(codes) if code == 200}
    assert {i for i in range(WRITERS) if f"field_{i}" in data} == applied, "a 200 PATCH was lost or a 409 applied"
    assert int(got.json()["revision"].split("-")[0]) == 1 + len(applied)


async def test_concurrent_patch_and_delete(master, acct):
    menu = master.create(acct, "menus", {"name": "Doomed"})
    path = f"accounts/{acct}/menus/{menu['id']}"
    async with httpx.AsyncClient(base_url=master.base, headers={"X-Auth-Token": master.token}, timeout=60) as client:
        requests = [client.patch(path, json={"data": {"retries": 2}}) for _ in range(10)]
        requests.insert(5, client.delete(path))
        responses = await asyncio.gather(*requests)
    assert all(r.status_code in (200, 404, 409) for r in responses), [r.text for r in responses]
    deleted = responses[5].status_code == 200
    assert master.get(path).status_code == (404 if deleted else 200)
