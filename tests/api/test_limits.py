"""Limits: defaults, the read-only credit fields, and that only the account's reseller (or, below the master, the
account's own admins) may change them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.helpers import unique

REFUSAL = "Please contact your phone provider to add limits."


@pytest.fixture(scope="module")
def world(master):
    """master → direct D; master → reseller R → customer C → sub S; R → sibling X."""
    d = master.create_account(master.account_id, unique("Direct D"))
    r = master.create_account(master.account_id, unique("Limits Reseller"))
    assert master.put(f"accounts/{r['id']}/reseller").status_code == 200
    c = master.create_account(r["id"], unique("Limits Customer"))
    s = master.create_account(c["id"], unique("Limits Sub"))
    x = master.create_account(r["id"], unique("Limits Sibling"))
    admins = {f"{name}_admin": master.admin_of(acc["id"]) for name, acc in (("d", d), ("r", r), ("c", c), ("x", x))}
    return SimpleNamespace(master=master, d=d, r=r, c=c, s=s, x=x, **admins)


def limits(client, account: dict) -> dict:
    resp = client.get(f"accounts/{account['id']}/limits")
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_an_account_without_limits_reads_the_defaults(world):
    data = limits(world.c_admin, world.c)["data"]
    assert data["id"] == "limits"
    assert {k: data[k] for k in ("inbound_trunks", "outbound_trunks", "twoway_trunks", "burst_trunks")} == {
        "inbound_trunks": 0,
        "outbound_trunks": 0,
        "twoway_trunks": 0,
        "burst_trunks": 0,
    }
    assert data["calls"] == -1 and data["resource_consuming_calls"] == -1
    assert data["allow_prepay"] is True and data["authz_resource_types"] == []
    assert data["allow_postpay"] is False and data["max_postpay_amount"] == 0


def test_a_direct_account_of_the_master_sets_its_own_limits(world):
    path = f"accounts/{world.d['id']}/limits"
    resp = world.d_admin.post(
        path,
        {
            "inbound_trunks": 5,
            "twoway_trunks": -1,
            "allow_postpay": True,
            "max_postpay_amount": 1000000,
            "pvt_allow_postpay": True,
        },
    )
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["inbound_trunks"] == 5 and data["twoway_trunks"] == -1 and data["allow_prepay"] is True
    assert data["allow_postpay"] is False and data["max_postpay_amount"] == 0, "credit limits are read-only"
    assert limits(world.d_admin, world.d)["data"] == data
    assert "outbound_trunks" not in data, "a stored document shows what was stored"


def test_only_the_reseller_or_a_system_admin_changes_a_resold_account(world):
    path = f"accounts/{world.c['id']}/limits"
    before = limits(world.c_admin, world.c)
    refused = world.c_admin.post(path, {"outbound_trunks": 99})
    assert refused.status_code == 403
    assert refused.json()["message"] == "forbidden" and refused.json()["data"]["message"] == REFUSAL
    after = limits(world.c_admin, world.c)
    assert (after["data"], after["revision"]) == (before["data"], before["revision"])

    assert world.r_admin.post(path, {"outbound_trunks": 3}).status_code == 200
    assert limits(world.c_admin, world.c)["data"]["outbound_trunks"] == 3
    assert world.master.post(path, {"outbound_trunks": 4, "calls": 10}).status_code == 200
    assert limits(world.c_admin, world.c)["data"]["outbound_trunks"] == 4

    sub = f"accounts/{world.s['id']}/limits"
    assert world.c_admin.post(sub, {"inbound_trunks": 1}).status_code == 403, "an ancestor that is not the reseller"
    assert world.r_admin.post(sub, {"inbound_trunks": 1}).status_code == 200
    assert world.r_admin.post(f"accounts/{world.r['id']}/limits", {"inbound_trunks": 50}).status_code == 200, (
        "a reseller's own reseller is the master"
    )


def test_invalid_limits_are_refused_and_change_nothing(world):
    path = f"accounts/{world.d['id']}/limits"
    assert world.d_admin.post(path, {"inbound_trunks": 2}).status_code == 200
    before = limits(world.d_admin, world.d)
    for body, field, rule in (
        ({"inbound_trunks": -5}, "inbound_trunks", "minimum"),
        ({"calls": "many"}, "calls", "type"),
        ({"authz_resource_types": "audio"}, "authz_resource_types", "type"),
    ):
        resp = world.d_admin.post(path, body)
        assert resp.status_code == 400 and resp.json()["message"] == "validation error"
        assert rule in resp.json()["data"][field], resp.text
    wrong = world.d_admin.post(path, ["not", "an", "object"])
    assert wrong.status_code == 400
    after = limits(world.d_admin, world.d)
    assert (after["data"], after["revision"]) == (before["data"], before["revision"])


def test_a_sibling_can_neither_read_nor_change_them(world):
    path = f"accounts/{world.c['id']}/limits"
    before = limits(world.c_admin, world.c)["data"]
    for resp in (
        world.x_admin.get(path),
        world.x_admin.post(path, {"inbound_trunks": 7}),
        world.c_admin.get(f"accounts/{world.x['id']}/limits"),
        world.c_admin.post(f"accounts/{world.x['id']}/limits", {"inbound_trunks": 7}),
    ):
        assert resp.status_code == 403, resp.text
    assert limits(world.c_admin, world.c)["data"] == before
    assert world.c_admin.put(path, {"inbound_trunks": 1}).status_code == 405
    assert world.c_admin.get(f"{path}/extra").status_code == 404
