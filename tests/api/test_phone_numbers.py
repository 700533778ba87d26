"""Phone numbers over HTTP: adding, listing and filtering, features, the pool (search, activate, reserve, release),
classifiers, platform-wide uniqueness, tenant isolation, moves, callflow use and login by phone number.

Numbers are unique platform-wide and the server is shared by the whole session, so every test draws numbers
from its own fresh NPA-NXX block.
"""

from __future__ import annotations

import json
import random
import subprocess
from types import SimpleNamespace

import httpx
import pytest

from cloudpbx.numbers.classifiers import DEFAULT_CLASSIFIERS, classify
from tests.conftest import start_server, stop_server, sup_argv
from tests.helpers import ADMIN_PASSWORD, Client, credentials, unique

NPAS = [npa for npa in range(201, 990) if classify(f"+1{npa}2000000").name == "did_us" and npa % 100 != 11]
_blocks: set[str] = set()


def block(count: int = 1) -> list[str]:
    """`count` numbers of an NPA-NXX block no other test of this session uses."""
    while True:
        prefix = f"+1{random.choice(NPAS)}{random.randint(200, 999)}"
        if prefix not in _blocks:
            _blocks.add(prefix)
            return [f"{prefix}{line:04d}" for line in range(1000, 1000 + count)]


def sup(server, *args: str) -> None:
    """Run a `cloudpbx sup` maintenance command against the session's database."""
    done = subprocess.run(
        sup_argv(server, *args),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def assert_error(resp: httpx.Response, code: int, message: str) -> dict:
    """Crossbar's error envelope: the code as a string, the error atom as message, details in data."""
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert body["status"] == "error" and body["error"] == str(code) and body["message"] == message, body
    assert isinstance(body["data"], dict)
    return body["data"]


def numbers_of(client: Client, account_id: str, query: str = "") -> dict:
    resp = client.get(f"accounts/{account_id}/phone_numbers{query}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["numbers"]


def add(client: Client, account_id: str, number: str, **data) -> dict:
    resp = client.put(f"accounts/{account_id}/phone_numbers/{number}", data)
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]


def pool(master: Client, *numbers: str) -> None:
    for number in numbers:
        assert master.put(f"phone_numbers/{number}").status_code == 201


def search(client: Client, query: str) -> list[str]:
    resp = client.get(f"phone_numbers?{query}")
    assert resp.status_code == 200, resp.text
    return [row["number"] for row in resp.json()["data"]]


@pytest.fixture(scope="module")
def world(master):
    """Reseller R with customers C1 and C2 (C1 has a sub S), and B, a tenant beside R; each with an admin."""
    r = master.create_account(master.account_id, unique("Numbers R"))
    c1 = master.create_account(r["id"], unique("Numbers C1"))
    c2 = master.create_account(r["id"], unique("Numbers C2"))
    s = master.create_account(c1["id"], unique("Numbers S"))
    b = master.create_account(master.account_id, unique("Numbers B"))
    return SimpleNamespace(
        master=master,
        r=r["id"],
        c1=c1["id"],
        c2=c2["id"],
        s=s["id"],
        b=b["id"],
        r_admin=master.admin_of(r["id"]),
        c1_admin=master.admin_of(c1["id"]),
        c2_admin=master.admin_of(c2["id"]),
        b_admin=master.admin_of(b["id"]),
    )


# Adding and listing ---------------------------------------------------------------------------------------------------


def test_added_numbers_are_listed_filtered_and_paged(world):
    master, acct = world.master, world.c1
    first, second, third = block(3)
    added = add(master, acct, first)
    assert added["id"] == first and added["state"] == "in_service" and added["_read_only"]["state"] == "in_service"
    assert add(master, acct, second, create_with_state="reserved")["state"] == "reserved"
    assert add(master, acct, third, create_with_state="port_in")["state"] == "port_in"
    listing = numbers_of(master, acct, "?paginate=false")
    assert {first, second, third} <= listing.keys()
    entry = listing[first]
    assert entry["assigned_to"] == acct and entry["state"] == "in_service" and entry["used_by"] == ""
    assert entry["features"] == [] and isinstance(entry["created"], int) and isinstance(entry["updated"], int)
    wanted = numbers_of(master, acct, '?filter_state=["in_service","port_in"]&paginate=false')
    assert {first, third} <= wanted.keys() and second not in wanted
    assert all(e["state"] in ("in_service", "port_in") for e in wanted.values())
    page = master.get(f"accounts/{acct}/phone_numbers?page_size=1&start_key=%2B{first[1:]}").json()
    assert list(page["data"]["numbers"]) == [first] and page["page_size"] == 1 and page["start_key"] == first
    following = master.get(f"accounts/{acct}/phone_numbers?page_size=5&start_key={page['next_start_key']}").json()
    assert list(following["data"]["numbers"])[:2] == [second, third] and "next_start_key" not in following


def test_cascade_quantity_counts_the_numbers_below(world):
    master = world.master
    before = master.get(f"accounts/{world.c1}/phone_numbers").json()["data"]["cascade_quantity"]
    add(master, world.s, block()[0])
    assert master.get(f"accounts/{world.c1}/phone_numbers").json()["data"]["cascade_quantity"] == before + 1
    assert master.get(f"accounts/{world.s}/phone_numbers").json()["data"]["cascade_quantity"] == 0


def test_numbers_are_normalised_to_e164_and_non_numbers_are_400(world):
    master = world.master
    national = block()[0][2:]
    assert add(master, world.c1, national)["id"] == f"+1{national}"
    assert master.get(f"accounts/{world.c1}/phone_numbers/{national}").json()["data"]["id"] == f"+1{national}"
    for bad in ("1000", "abc", "+141510010+15"):
        data = assert_error(master.put(f"accounts/{world.c1}/phone_numbers/{bad}"), 400, "not_reconcilable")
        assert data["error"] == "not_reconcilable" and data["cause"] == bad


def test_a_number_belongs_to_one_account_platform_wide(world):
    master, number = world.master, block()[0]
    add(master, world.c1, number)
    for account in (world.c2, world.b, world.c1):
        data = assert_error(master.put(f"accounts/{account}/phone_numbers/{number}"), 409, "number_exists")
        assert data == {
            "code": 409,
            "error": "number_exists",
            "message": f"number {number} already exists",
            "cause": number,
        }
    assert_error(master.put(f"phone_numbers/{number}"), 409, "number_exists")


def test_only_allowed_accounts_add_numbers_outside_the_pool(server, world):
    number, other = block(2)
    data = assert_error(world.c2_admin.put(f"accounts/{world.c2}/phone_numbers/{number}"), 403, "forbidden")
    assert data["cause"] == number and "pool" in data["message"]
    assert (
        world.c2_admin.get(f"accounts/{world.c2}/phone_numbers/carriers_info").json()["data"]["usable_creation_states"]
        == []
    )
    sup(server, "crossbar_maintenance", "allow_account_number_additions", world.c2)
    try:
        assert add(world.c2_admin, world.c2, number)["state"] == "in_service"
        refused = world.c2_admin.put(f"accounts/{world.c2}/phone_numbers/{other}", {"create_with_state": "available"})
        assert "available" in assert_error(refused, 403, "forbidden")["message"]
        states = world.c2_admin.get(f"accounts/{world.c2}/phone_numbers/carriers_info").json()["data"]
        assert set(states["usable_creation_states"]) == {"in_service", "reserved", "port_in"}
    finally:
        sup(server, "crossbar_maintenance", "disallow_account_number_additions", world.c2)
    assert_error(world.c2_admin.put(f"accounts/{world.c2}/phone_numbers/{other}"), 403, "forbidden")
    assert_error(world.c2_admin.put(f"phone_numbers/{other}"), 403, "forbidden")


# Features -------------------------------------------------------------------------------------------------------------

E911 = {
    "street_address": "116 Natoma St",
    "locality": "San Francisco",
    "region": "ca",
    "postal_code": "94105-3745",
    "caller_name": "Valued Customer",
}


def test_features_are_configured_by_public_fields(world):
    master, number = world.master, block()[0]
    add(master, world.c1, number)
    url = f"accounts/{world.c1}/phone_numbers/{number}"
    settings = {
        "cnam": {"display_name": "Acme Inc", "inbound_lookup": True},
        "e911": E911,
        "prepend": {"enabled": True, "name": "Sales"},
        "failover": {"e164": "4155550199"},
        "ringback": {"early": "tone-stream://%(2000,4000,440,480)"},
        "force_outbound": True,
        "my_own_field": {"kept": 1},
    }
    resp = master.post(url, settings)
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert set(data["features"]) == {
        "outbound_cnam",
        "inbound_cnam",
        "e911",
        "prepend",
        "failover",
        "ringback",
        "force_outbound",
    }
    assert data["e911"]["region"] == "CA" and data["e911"]["postal_code"] == "94105"
    assert data["e911"]["plus_four"] == "3745" and data["failover"]["e164"] == "+14155550199"
    assert data["my_own_field"] == {"kept": 1} and data["state"] == "in_service"
    assert "cnam" in data["_read_only"]["features_available"]
    patched = master.patch(url, {"cnam": None, "prepend": {"enabled": False}}).json()["data"]
    assert "outbound_cnam" not in patched["features"] and "prepend" not in patched["features"]
    assert patched["e911"]["locality"] == "San Francisco" and patched["prepend"] == {"enabled": False, "name": "Sales"}
    assert set(numbers_of(master, world.c1)[number]["features"]) == {"e911", "failover", "ringback", "force_outbound"}
    replaced = master.post(url, {"force_outbound": False}).json()["data"]
    assert replaced["features"] == [] and "e911" not in replaced


def test_feature_settings_are_validated_together(world):
    master, number = world.master, block()[0]
    add(master, world.c1, number)
    url = f"accounts/{world.c1}/phone_numbers/{number}"
    bad = {
        "e911": {"street_address": "Natoma St", "locality": "San Francisco", "region": "ZZ", "postal_code": "9410"},
        "failover": {"sip": "not a uri"},
        "prepend": {"enabled": True},
        "cnam": {"display_name": "x" * 16},
    }
    data = assert_error(master.post(url, bad), 400, "validation error")
    assert "invalid" in data["e911.street_address"] and "invalid" in data["e911.region"]
    assert "invalid" in data["e911.postal_code"] and "invalid" in data["failover.sip"]
    assert "required" in data["prepend"] and "maxLength" in data["cnam.display_name"]
    missing = assert_error(master.post(url, {"e911": {"street_address": "1 Main St"}}), 400, "validation error")
    assert {"e911.locality", "e911.region", "e911.postal_code"} <= missing.keys()
    assert "required" in assert_error(master.post(url, {"failover": {}}), 400, "validation error")["failover"]
    canada = master.post(url, {"e911": dict(E911, region="ON", postal_code="k1a0b1")}).json()["data"]
    assert canada["e911"]["postal_code"] == "K1A 0B1"
    assert master.get(url).json()["data"]["e911"]["region"] == "ON"


# The pool -------------------------------------------------------------------------------------------------------------


def test_superduper_fills_the_pool_that_tenants_search(world):
    master = world.master
    numbers = block(4)
    pool(master, *numbers[:3])
    master_pool = master.put(
        f"accounts/{master.account_id}/phone_numbers/{numbers[3]}", {"create_with_state": "available"}
    )
    assert master_pool.status_code == 201 and master_pool.json()["data"]["state"] == "available"
    npa_nxx = numbers[0][2:8]
    client = world.c2_admin
    assert search(client, f"prefix={npa_nxx}&quantity=10") == numbers
    assert search(client, f"prefix=%2B1{npa_nxx}&quantity=2&offset=1") == numbers[1:3]
    assert search(client, f"prefix={npa_nxx}") == numbers[:1]
    scoped = client.get(f"accounts/{world.c2}/phone_numbers?prefix={npa_nxx}&quantity=10").json()["data"]
    assert scoped == [{"number": n, "state": "available"} for n in numbers]
    assert numbers[3] not in numbers_of(master, master.account_id)
    assert master.get(f"phone_numbers/{numbers[0]}").json()["data"]["assigned_to"] is None


def test_search_needs_a_valid_prefix(world):
    client = world.c2_admin
    assert "required" in assert_error(client.get("phone_numbers"), 400, "validation error")["prefix"]
    assert (
        "minimum"
        in assert_error(client.get("phone_numbers?prefix=415&quantity=0"), 400, "validation error")["quantity"]
    )
    assert "enum" in assert_error(client.get("phone_numbers?prefix=20&country=GB"), 400, "validation error")["country"]
    assert "pattern" in assert_error(client.get("phone_numbers?prefix=4a5"), 400, "validation error")["prefix"]


def test_tenants_reserve_and_activate_pool_numbers(world):
    master, client, acct = world.master, world.c2_admin, world.c2
    reserved, bought = block(2)
    pool(master, reserved, bought)
    resp = client.put(f"accounts/{acct}/phone_numbers/{reserved}/reserve")
    assert resp.status_code == 201 and resp.json()["data"]["state"] == "reserved"
    assert_error(client.put(f"accounts/{acct}/phone_numbers/{reserved}/reserve"), 400, "no_change_required")
    activated = client.put(f"accounts/{acct}/phone_numbers/{reserved}/activate")
    assert activated.status_code == 201 and activated.json()["data"]["state"] == "in_service"
    assert client.put(f"accounts/{acct}/phone_numbers/{bought}/activate").json()["data"]["state"] == "in_service"
    assert_error(client.put(f"accounts/{acct}/phone_numbers/{bought}/reserve"), 400, "invalid_state_transition")
    held = numbers_of(client, acct)
    assert held[reserved]["state"] == held[bought]["state"] == "in_service"
    assert search(client, f"prefix={reserved[2:8]}&quantity=5") == []
    never = block()[0]
    assert (
        assert_error(client.put(f"accounts/{acct}/phone_numbers/{never}/activate"), 404, "bad_identifier")["cause"]
        == never
    )


def test_release_returns_a_number_to_the_pool_without_its_settings(world):
    master, number = world.master, block()[0]
    add(master, world.c1, number, e911=E911, cnam={"display_name": "Old Owner"})
    resp = world.c1_admin.delete(f"accounts/{world.c1}/phone_numbers/{number}")
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["id"] == number and data["state"] == "available" and "e911" not in data
    assert_error(world.c1_admin.get(f"accounts/{world.c1}/phone_numbers/{number}"), 404, "bad_identifier")
    assert number not in numbers_of(world.c1_admin, world.c1)
    assert search(world.c2_admin, f"prefix={number[2:8]}") == [number]
    taken = world.c2_admin.put(f"accounts/{world.c2}/phone_numbers/{number}/activate").json()["data"]
    assert "e911" not in taken and "cnam" not in taken and taken["features"] == []


def test_a_tenant_takes_a_pool_number_with_put(world):
    master, number = world.master, block()[0]
    pool(master, number)
    taken = world.c2_admin.put(f"accounts/{world.c2}/phone_numbers/{number}", {"create_with_state": "reserved"})
    assert taken.status_code == 201 and taken.json()["data"]["state"] == "reserved"
    assert numbers_of(world.c2_admin, world.c2)[number]["assigned_to"] == world.c2


def test_hard_delete_is_for_superduper_only(world):
    master, (kept, gone), (pooled,) = world.master, block(2), block()
    add(master, world.c1, kept)
    add(master, world.c1, gone)
    soft = world.c1_admin.delete(f"accounts/{world.c1}/phone_numbers/{kept}?hard=true").json()["data"]
    assert soft["state"] == "available"
    hard = master.delete(f"accounts/{world.c1}/phone_numbers/{gone}?hard=true")
    assert hard.status_code == 200 and hard.json()["data"]["state"] == "deleted"
    assert_error(master.get(f"phone_numbers/{gone}"), 404, "bad_identifier")
    assert search(master, f"prefix={gone[2:8]}&quantity=5") == [kept]
    pool(master, pooled)
    assert master.delete(f"phone_numbers/{pooled}").json()["data"]["state"] == "deleted"
    assert add(master, world.c1, gone)["state"] == "in_service"


def test_deleting_an_account_frees_its_numbers(world):
    master = world.master
    doomed = master.create_account(world.r, unique("Numbers Doomed"))["id"]
    number = block()[0]
    add(master, doomed, number)
    assert master.delete(f"accounts/{doomed}").status_code == 200
    assert search(master, f"prefix={number[2:8]}") == [number]


# Classifiers ----------------------------------------------------------------------------------------------------------


def test_classifiers_list_in_matching_order_and_classify_numbers(world):
    client = world.c1_admin
    listed = client.get(f"accounts/{world.c1}/phone_numbers/classifiers").json()["data"]
    assert list(listed) == [c["name"] for c in DEFAULT_CLASSIFIERS]
    assert all({"regex", "friendly_name"} <= entry.keys() for entry in listed.values())
    assert client.get("phone_numbers/classifiers").json()["data"] == listed
    expected = {
        "4158867900": ("did_us", "+14158867900"),
        "8005551234": ("tollfree_us", "+18005551234"),
        "911": ("emergency", "911"),
        "+442079460000": ("international", "+442079460000"),
    }
    for number, (name, e164) in expected.items():
        data = client.get(f"accounts/{world.c1}/phone_numbers/classifiers/{number}").json()["data"]
        assert (data["name"], data["e164"], data["number"]) == (name, e164, number)
        assert data["regex"] == listed[name]["regex"]


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    """A server of its own whose number_manager config is set before it starts (configs are cached)."""
    data_dir = tmp_path_factory.mktemp("numbers-config")
    url = f"sqlite:///{data_dir / 'cloudpbx.db'}"
    config = {
        "fictional": {"regex": "^\\+1555\\d{7}$", "friendly_name": "Fictional"},
        "did_us": {"regex": "^\\+1\\d{10}$", "friendly_name": "Any NANP"},
    }
    settings = SimpleNamespace()
    for key, value in (("classifiers", config), ("released_state", "released")):
        sup((None, data_dir, url), "kapps_config", "set_json", "number_manager", key, json.dumps(value))
    proc, base = start_server(data_dir, url)
    try:
        client = Client(base)
        client.login("admin", ADMIN_PASSWORD, account_name="Master Account")
        settings.client = client
        yield settings
    finally:
        stop_server(proc)


def test_classifiers_and_released_state_come_from_system_config(configured):
    client = configured.client
    listed = client.get("phone_numbers/classifiers").json()["data"]
    assert list(listed) == ["fictional", "did_us"]
    assert client.get("phone_numbers/classifiers/5552345678").json()["data"]["name"] == "fictional"
    assert client.get("phone_numbers/classifiers/4155550100").json()["data"]["friendly_name"] == "Any NANP"
    unmatched = client.get("phone_numbers/classifiers/911").json()["data"]
    assert unmatched == {"number": "911", "e164": "911"}
    number = "+14155550100"
    assert client.put(f"accounts/{client.account_id}/phone_numbers/{number}").status_code == 201
    released = client.delete(f"accounts/{client.account_id}/phone_numbers/{number}").json()["data"]
    assert released["state"] == "released"
    assert search(client, "prefix=415555") == []


# Isolation ------------------------------------------------------------------------------------------------------------


def test_another_tenants_number_is_never_shown_nor_taken(world):
    master, number = world.master, block()[0]
    add(master, world.c1, number, cnam={"display_name": "Secret Co"})
    intruder, mine = world.b_admin, f"accounts/{world.b}/phone_numbers/{number}"
    for resp in (
        intruder.get(mine),
        intruder.post(mine, {"cnam": {"display_name": "Stolen"}}),
        intruder.patch(mine, {"force_outbound": True}),
        intruder.delete(mine),
        intruder.put(f"{mine}/activate"),
        intruder.put(f"{mine}/reserve"),
        intruder.get(f"{mine}/identify"),
        intruder.post(f"{mine}/move", {"to": world.b}),
    ):
        data = assert_error(resp, 404, "bad_identifier")
        assert "Secret Co" not in resp.text and world.c1 not in resp.text and data["cause"] == number
    moved = intruder.put(f"accounts/{world.b}/phone_numbers/collection/activate", {"numbers": [number]})
    assert assert_error(moved, 400, "client error")["error"][number]["code"] == 404
    assert "Secret Co" not in moved.text
    for resp in (
        intruder.get(f"accounts/{world.c1}/phone_numbers"),
        intruder.get(f"accounts/{world.c1}/phone_numbers/{number}"),
    ):
        assert_error(resp, 403, "forbidden")
    assert number not in numbers_of(intruder, world.b)
    assert numbers_of(master, world.c1)[number]["assigned_to"] == world.c1
    assert master.get(f"accounts/{world.c1}/phone_numbers/{number}").json()["data"]["cnam"] == {
        "display_name": "Secret Co"
    }


def test_plain_users_read_numbers_but_do_not_change_them(world):
    master, number = world.master, block()[0]
    add(master, world.c2, number)
    master.create(
        world.c2,
        "users",
        {
            "first_name": "Plain",
            "last_name": "User",
            "username": "plain-numbers",
            "password": "plain-pass-1",
            "priv_level": "user",
        },
    )
    realm = master.get(f"accounts/{world.c2}").json()["data"]["realm"]
    user = Client(master.base)
    user.login("plain-numbers", "plain-pass-1", account_realm=realm)
    assert number in numbers_of(user, world.c2)
    assert user.get(f"accounts/{world.c2}/phone_numbers/{number}").status_code == 200
    assert_error(user.post(f"accounts/{world.c2}/phone_numbers/{number}", {"force_outbound": True}), 403, "forbidden")
    assert_error(user.delete(f"accounts/{world.c2}/phone_numbers/{number}"), 403, "forbidden")


# Moving, identifying, collections -------------------------------------------------------------------------------------


def test_numbers_move_within_the_callers_tree(world):
    master, number = world.master, block()[0]
    add(master, world.c1, number, create_with_state="reserved")
    resp = world.r_admin.post(f"accounts/{world.c1}/phone_numbers/{number}/move", {"to": world.c2})
    assert resp.status_code == 200 and resp.json()["data"]["state"] == "reserved"
    assert number in numbers_of(master, world.c2) and number not in numbers_of(master, world.c1)
    refused = world.r_admin.post(f"accounts/{world.c2}/phone_numbers/{number}/move", {"to": world.b})
    assert assert_error(refused, 403, "forbidden")["cause"] == world.b
    assert_error(
        world.c2_admin.post(f"accounts/{world.c2}/phone_numbers/{number}/move", {"to": world.c1}), 403, "forbidden"
    )
    assert_error(world.c1_admin.put(f"accounts/{world.c1}/phone_numbers/{number}/activate"), 404, "bad_identifier")
    back = world.r_admin.put(f"accounts/{world.c1}/phone_numbers/collection/activate", {"numbers": [number]})
    assert back.status_code == 201, back.text
    assert back.json()["data"]["success"][number]["state"] == "in_service" and back.json()["data"]["error"] == {}
    assert numbers_of(master, world.c1)[number]["assigned_to"] == world.c1
    assert (
        "required"
        in assert_error(
            world.r_admin.post(f"accounts/{world.c1}/phone_numbers/{number}/move", {}), 400, "validation error"
        )["to"]
    )


def test_callflows_mark_numbers_used_and_pin_them(world):
    master, number = world.master, block()[0]
    add(master, world.c1, number)
    flow = master.create(
        world.c1, "callflows", {"name": "Main", "numbers": [number[2:]], "flow": {"module": "noop", "data": {}}}
    )
    assert numbers_of(master, world.c1)[number]["used_by"] == "callflow"
    assert master.get(f"accounts/{world.c1}/phone_numbers/{number}").json()["data"]["used_by"] == "callflow"
    pinned = world.r_admin.post(f"accounts/{world.c1}/phone_numbers/{number}/move", {"to": world.c2})
    assert assert_error(pinned, 409, "number_in_use")["cause"] == number
    foreign = master.put(f"accounts/{world.c2}/callflows", {"numbers": [number], "flow": {"module": "noop"}})
    assert "forbidden" in assert_error(foreign, 400, "validation error")["numbers"]
    assert master.delete(f"accounts/{world.c1}/callflows/{flow['id']}").status_code == 200
    assert numbers_of(master, world.c1)[number]["used_by"] == ""
    assert world.r_admin.post(f"accounts/{world.c1}/phone_numbers/{number}/move", {"to": world.c2}).status_code == 200


def test_identify_names_the_holder_inside_the_callers_tree(world):
    master, number, aging = world.master, *block(2)
    add(master, world.s, number)
    data = world.c1_admin.get(f"accounts/{world.c1}/phone_numbers/{number}/identify").json()["data"]
    assert data == {"account_id": world.s, "number": number}
    assert (
        world.r_admin.get(f"accounts/{world.r}/phone_numbers/{number[2:]}/identify").json()["data"]["account_id"]
        == world.s
    )
    assert_error(world.c2_admin.get(f"accounts/{world.c2}/phone_numbers/{number}/identify"), 404, "bad_identifier")
    add(master, world.s, aging, create_with_state="aging")
    out = assert_error(world.c1_admin.get(f"accounts/{world.c1}/phone_numbers/{aging}/identify"), 400, "client error")
    assert out == {"cause": "not_in_service", "account_id": world.s, "number": aging}


def test_collections_report_each_number(world):
    master, acct = world.master, world.c1
    fresh, other, taken = block(3)
    add(master, world.c2, taken)
    created = master.put(
        f"accounts/{acct}/phone_numbers/collection", {"numbers": [fresh, other, taken], "carrier_name": "local-test"}
    )
    assert created.status_code == 201, created.text
    body = created.json()["data"]
    assert set(body["success"]) == {fresh, other} and body["success"][fresh]["carrier_name"] == "local-test"
    assert body["error"][taken]["error"] == "number_exists" and body["error"][taken]["code"] == 409
    patched = master.patch(
        f"accounts/{acct}/phone_numbers/collection", {"numbers": [fresh, other], "force_outbound": True}
    ).json()["data"]
    assert all("force_outbound" in n["features"] for n in patched["success"].values())
    deleted = master.request("DELETE", f"accounts/{acct}/phone_numbers/collection", {"numbers": [fresh, other]}).json()[
        "data"
    ]
    assert {n["state"] for n in deleted["success"].values()} == {"available"}
    failed = master.request("DELETE", f"accounts/{acct}/phone_numbers/collection", {"numbers": [fresh]})
    assert assert_error(failed, 400, "client error")["error"][fresh]["code"] == 404
    twice = master.put(f"accounts/{acct}/phone_numbers/collection", {"numbers": [fresh, fresh[2:]]})
    assert "uniqueItems" in assert_error(twice, 400, "validation error")["numbers"]
    assert (
        "required"
        in assert_error(master.put(f"accounts/{acct}/phone_numbers/collection", {}), 400, "validation error")["numbers"]
    )


# Login ----------------------------------------------------------------------------------------------------------------


def test_login_by_phone_number(world):
    master, number, pooled = world.master, *block(2)
    add(master, world.c2, number)
    pool(master, pooled)
    master.create(
        world.c2,
        "users",
        {
            "first_name": "Phone",
            "last_name": "Login",
            "username": "phone-login",
            "password": "phone-pass-1",
            "priv_level": "admin",
        },
    )
    anonymous = Client(master.base)
    hashed = credentials("phone-login", "phone-pass-1")
    for form in (number, number[2:], number[1:]):
        resp = anonymous.put("user_auth", {"credentials": hashed, "phone_number": form})
        assert resp.status_code == 201, resp.text
        assert resp.json()["data"]["account_id"] == world.c2
    for missing in (pooled, block()[0]):
        data = assert_error(
            anonymous.put("user_auth", {"credentials": hashed, "phone_number": missing}), 400, "validation error"
        )
        assert "not_found" in data["phone_number"]
    assert_error(
        anonymous.put("user_auth", {"credentials": credentials("phone-login", "wrong"), "phone_number": number}),
        401,
        "invalid_credentials",
    )
