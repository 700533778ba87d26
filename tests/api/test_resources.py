"""Carriers: /v2/resources (global, system administrators only) and /v2/accounts/{A}/resources (an account's own):
CRUD, validation in Crossbar's envelope, who may act on which, tenant isolation, and secret gateway passwords."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.helpers import Client, unique

US = r"^\+1(\d{10})$"
PASSWORD = "pass-word-1"


def carrier(**fields) -> dict:
    gateway = {"server": "198.51.100.7", "username": "trunk", "password": "gw-Secret-1"}
    return {"name": unique("Carrier"), "rules": [US], "gateways": [gateway], **fields}


def user_of(master: Client, account: dict, username: str, priv_level: str = "user") -> Client:
    master.create(
        account["id"],
        "users",
        {
            "first_name": "U",
            "last_name": username,
            "username": username,
            "password": PASSWORD,
            "priv_level": priv_level,
        },
    )
    client = Client(master.base)
    client.login(username, PASSWORD, account_name=account["name"])
    return client


@pytest.fixture(scope="module")
def world(master):
    reseller = master.create_account(master.account_id, unique("Reseller"))
    assert master.put(f"accounts/{reseller['id']}/reseller").status_code == 200
    customer = master.create_account(reseller["id"], unique("Customer"))
    sibling = master.create_account(reseller["id"], unique("Sibling"))
    return SimpleNamespace(
        master=master,
        reseller=reseller,
        customer=customer,
        sibling=sibling,
        reseller_admin=master.admin_of(reseller["id"]),
        customer_admin=master.admin_of(customer["id"]),
        sibling_admin=master.admin_of(sibling["id"]),
        customer_user=user_of(master, customer, "carrier-reader"),
        master_user=user_of(
            master, {"id": master.account_id, "name": "Master Account"}, unique("plain").replace(" ", "")
        ),
    )


def ids(resp) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {row["id"] for row in resp.json()["data"]}


def test_system_administrators_create_read_change_and_delete_global_carriers(world):
    master = world.master
    created = master.put("resources", carrier(weight_cost=20))
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert created.headers["location"] == data["id"]
    assert data["enabled"] is True and data["gateway_strategy"] == "sequential" and data["flags"] == []
    assert data["gateways"][0] | {"port": 5060, "invite_format": "route", "enabled": True} == data["gateways"][0]
    rid = data["id"]
    assert master.get(f"resources/{rid}").json()["data"]["gateways"][0]["password"] == "gw-Secret-1"
    listed = master.get("resources?paginate=false")
    assert rid in ids(listed)
    row = next(r for r in listed.json()["data"] if r["id"] == rid)
    assert "gateways" not in row and row["weight_cost"] == 20
    assert rid not in ids(master.get(f"accounts/{master.account_id}/resources?paginate=false"))
    patched = master.patch(f"resources/{rid}", {"weight_cost": 5, "flags": ["fax"]})
    assert patched.status_code == 200 and patched.json()["data"]["rules"] == [US]
    assert patched.json()["data"]["weight_cost"] == 5 and patched.json()["data"]["flags"] == ["fax"]
    replaced = master.post(f"resources/{rid}", carrier(name="Replaced", rules=[r"^\+44(\d+)$"]))
    assert replaced.status_code == 200 and replaced.json()["data"]["weight_cost"] == 50
    assert master.get(f"resources/{rid}").json()["data"]["name"] == "Replaced"
    deleted = master.delete(f"resources/{rid}")
    assert deleted.status_code == 200 and deleted.json()["data"]["_read_only"] == {"deleted": True}
    assert master.get(f"resources/{rid}").status_code == 404
    assert rid not in ids(master.get("resources?paginate=false"))


def test_global_carriers_are_refused_to_everyone_but_system_administrators(world):
    rid = world.master.put("resources", carrier()).json()["data"]["id"]
    before = world.master.get(f"resources/{rid}").json()["revision"]
    for client in (world.reseller_admin, world.customer_admin, world.customer_user, world.master_user):
        for resp in (
            client.get("resources"),
            client.put("resources", carrier()),
            client.get(f"resources/{rid}"),
            client.post(f"resources/{rid}", carrier()),
            client.patch(f"resources/{rid}", {"enabled": False}),
            client.delete(f"resources/{rid}"),
        ):
            assert resp.status_code == 403, f"{resp.request.method} {resp.request.url}: {resp.text}"
            assert resp.json()["error"] == "403" and "gw-Secret-1" not in resp.text
    assert Client(world.master.base).get("resources").status_code == 401
    assert world.master.get(f"resources/{rid}").json()["revision"] == before
    assert world.master.delete(f"resources/{rid}").status_code == 200


def test_an_account_and_its_ancestors_manage_its_own_carriers(world):
    base = f"accounts/{world.customer['id']}/resources"
    resp = world.customer_admin.put(base, carrier())
    assert resp.status_code == 201, resp.text
    rid = resp.json()["data"]["id"]
    for ancestor in (world.reseller_admin, world.master):
        assert ancestor.get(f"{base}/{rid}").json()["data"]["gateways"][0]["password"] == "gw-Secret-1"
        assert ancestor.patch(f"{base}/{rid}", {"weight_cost": 7}).status_code == 200
    assert rid in ids(world.customer_admin.get(base))
    assert world.customer_admin.delete(f"{base}/{rid}").status_code == 200
    assert world.reseller_admin.get(f"{base}/{rid}").status_code == 404


def test_an_account_never_sees_its_parents_or_a_siblings_carriers(world):
    reseller_base = f"accounts/{world.reseller['id']}/resources"
    sibling_base = f"accounts/{world.sibling['id']}/resources"
    parents = world.reseller_admin.put(reseller_base, carrier(name=unique("Parent trunk"))).json()["data"]
    siblings = world.sibling_admin.put(sibling_base, carrier(name=unique("Sibling trunk"))).json()["data"]
    for base, doc in ((reseller_base, parents), (sibling_base, siblings)):
        for resp in (
            world.customer_admin.get(base),
            world.customer_admin.get(f"{base}/{doc['id']}"),
            world.customer_admin.patch(f"{base}/{doc['id']}", {"enabled": False}),
            world.customer_admin.delete(f"{base}/{doc['id']}"),
        ):
            assert resp.status_code == 403 and doc["name"] not in resp.text
    mine = f"accounts/{world.customer['id']}/resources"
    for doc in (parents, siblings):
        assert world.customer_admin.get(f"{mine}/{doc['id']}").status_code == 404
        assert doc["id"] not in ids(world.customer_admin.get(mine))
    assert world.reseller_admin.get(f"{reseller_base}/{parents['id']}").json()["data"]["enabled"] is True


def test_user_level_logins_read_carriers_without_gateway_passwords(world):
    base = f"accounts/{world.customer['id']}/resources"
    rid = world.customer_admin.put(base, carrier()).json()["data"]["id"]
    seen = world.customer_user.get(f"{base}/{rid}")
    assert seen.status_code == 200
    gateway = seen.json()["data"]["gateways"][0]
    assert "password" not in gateway and gateway["username"] == "trunk"
    assert "gw-Secret-1" not in world.customer_user.get(f"{base}?paginate=false").text
    for query in ("filter_gateways.0.password=gw-Secret-1", "has_value=gateways.0.password", "filter_gateways=x"):
        assert world.customer_user.get(f"{base}?{query}").status_code == 403
    assert world.customer_user.put(base, carrier()).status_code == 403
    assert world.customer_admin.get(f"{base}/{rid}").json()["data"]["gateways"][0]["password"] == "gw-Secret-1"
    assert world.customer_admin.get(f"{base}?filter_gateways.0.password=gw-Secret-1").status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"rules": [r"^(\d)\1$"]}, "rules.0", "regex"),
        ({"cid_rules": [r"^(?=\+1)\d+$"]}, "cid_rules.0", "regex"),
        ({"rules_test": ["(a"]}, "rules_test.0", "regex"),
        ({"classifiers": {"tollfree_us": {"regex": r"(?<!1)800"}}}, "classifiers.tollfree_us.regex", "regex"),
        ({"rules": ["x" * 1025]}, "rules.0", "maxLength"),
        ({"gateways": [{"server": "bad host!"}]}, "gateways.0.server", "pattern"),
        ({"gateways": [{"port": 5060}]}, "gateways.0.server", "required"),
        ({"gateways": [{"server": "gw", "invite_format": "fax"}]}, "gateways.0.invite_format", "enum"),
        ({"gateways": [{"server": "gw", "prefix": "9@evil"}]}, "gateways.0.prefix", "pattern"),
        (
            {"gateways": [{"server": "gw", "custom_sip_headers": {"X-A": "1\r\nVia: x"}}]},
            "gateways.0.custom_sip_headers.X-A",
            "pattern",
        ),
        ({"weight_cost": 101}, "weight_cost", "maximum"),
        ({"gateway_strategy": "round_robin"}, "gateway_strategy", "enum"),
        ({"name": ""}, "name", "minLength"),
    ],
)
def test_invalid_carriers_are_refused_with_the_field_and_nothing_is_stored(world, change, field, rule):
    base = f"accounts/{world.customer['id']}/resources"
    before = ids(world.customer_admin.get(f"{base}?paginate=false"))
    for path in (base, "resources"):
        client = world.customer_admin if path == base else world.master
        resp = client.put(path, carrier(**change))
        assert resp.status_code == 400, resp.text
        body = resp.json()
        assert body["status"] == "error" and body["message"] == "validation error"
        assert rule in body["data"][field], body["data"]
    assert ids(world.customer_admin.get(f"{base}?paginate=false")) == before
    rid = world.customer_admin.put(base, carrier()).json()["data"]["id"]
    assert world.customer_admin.patch(f"{base}/{rid}", change).status_code == 400
    assert world.customer_admin.get(f"{base}/{rid}").json()["data"]["rules"] == [US]


def test_a_carrier_without_gateways_or_name_is_refused(world):
    resp = world.master.put("resources", {"rules": [US]})
    assert resp.status_code == 400
    assert {"name", "gateways"} <= set(resp.json()["data"])
