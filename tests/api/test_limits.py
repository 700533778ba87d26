"""Limits: defaults, the provider's private fields, that only the account's provider (its reseller, an ancestor when
that is the master, or a system admin) may change them, and `/limits/usage`: the trunks in use, live."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.limits.decision import CarrierCall
from cloudpbx.limits.trunks import Trunks
from cloudpbx.store import new_id, open_store
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
    assert data["soft_limit_inbound"] is False and data["soft_limit_outbound"] is False and data["enabled"] is True


def test_an_account_never_changes_its_own_limits(world):
    path = f"accounts/{world.d['id']}/limits"
    before = limits(world.d_admin, world.d)
    refused = world.d_admin.post(path, {"inbound_trunks": 5, "twoway_trunks": -1})
    assert refused.status_code == 403 and refused.json()["data"]["message"] == REFUSAL
    after = limits(world.d_admin, world.d)
    assert (after["data"], after["revision"]) == (before["data"], before["revision"])
    assert world.r_admin.post(f"accounts/{world.r['id']}/limits", {"inbound_trunks": 50}).status_code == 403, (
        "nor does a reseller: its own provider is the master"
    )

    resp = world.master.post(path, {"inbound_trunks": 5, "twoway_trunks": -1})
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["inbound_trunks"] == 5 and data["twoway_trunks"] == -1 and data["allow_prepay"] is True
    assert limits(world.d_admin, world.d)["data"] == data
    assert "outbound_trunks" not in data, "a stored document shows what was stored"


def test_the_provider_sets_credit_and_soft_limits_which_are_kept_private(world):
    path = f"accounts/{world.x['id']}/limits"
    provider = {
        "allow_postpay": True,
        "max_postpay_amount": 250.5,
        "soft_limit_inbound": True,
        "soft_limit_outbound": False,
        "enabled": False,
    }
    resp = world.r_admin.post(path, {"twoway_trunks": 3, **provider, "pvt_allow_postpay": False})
    assert resp.status_code == 200, resp.text
    assert {k: resp.json()["data"][k] for k in provider} == provider
    assert world.r_admin.post(path, {"twoway_trunks": 4}).status_code == 200
    data = limits(world.x_admin, world.x)["data"]
    assert {k: data[k] for k in provider} == provider, "a POST that leaves them out keeps them"
    assert data["twoway_trunks"] == 4
    assert world.x_admin.post(path, {"twoway_trunks": 4, "allow_postpay": False}).status_code == 403
    resp = world.r_admin.post(path, {"max_postpay_amount": -3})
    assert resp.status_code == 400 and "minimum" in resp.json()["data"]["max_postpay_amount"]
    assert limits(world.x_admin, world.x)["data"] == data


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


def test_invalid_limits_are_refused_and_change_nothing(world):
    path = f"accounts/{world.d['id']}/limits"
    assert world.master.post(path, {"inbound_trunks": 2}).status_code == 200
    before = limits(world.d_admin, world.d)
    for body, field, rule in (
        ({"inbound_trunks": -5}, "inbound_trunks", "minimum"),
        ({"calls": "many"}, "calls", "type"),
        ({"authz_resource_types": "audio"}, "authz_resource_types", "type"),
        ({"enabled": "yes"}, "enabled", "type"),
        ({"twoway_trunks": 1.5}, "twoway_trunks", "type"),
    ):
        resp = world.master.post(path, body)
        assert resp.status_code == 400 and resp.json()["message"] == "validation error"
        assert rule in resp.json()["data"][field], resp.text
    wrong = world.master.post(path, ["not", "an", "object"])
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


def usage(client, account: dict):
    return client.get(f"accounts/{account['id']}/limits/usage")


async def test_usage_shows_the_trunks_in_use_on_every_node_live(world, server):
    """Leases taken by another process on the shared database (as another `cloudpbx serve` would) show at once."""
    assert world.r_admin.post(f"accounts/{world.r['id']}/limits", {}).status_code == 403
    assert world.master.post(f"accounts/{world.r['id']}/limits", {"twoway_trunks": 10}).status_code == 200
    assert (
        world.r_admin.post(f"accounts/{world.s['id']}/limits", {"inbound_trunks": 1, "twoway_trunks": 1}).status_code
        == 200
    )
    idle = usage(world.c_admin, world.s)
    assert idle.status_code == 200, idle.text
    assert idle.json()["data"] == dict.fromkeys(
        ("inbound", "outbound", "twoway", "burst", "per_minute", "limits_disabled", "soft_limit", "calls"), 0
    )
    store = await open_store(server[2])
    trunks = Trunks(store, AccountDirectory(store), SystemConfigs(store), "elsewhere")
    try:
        call = CarrierCall("inbound", "+14155550100", "did_us")
        grants = [await trunks.authorize(world.s["id"], new_id(), call) for _ in range(3)]
        assert [g.allowed for g in grants] == [True, True, False]
        sub = usage(world.c_admin, world.s).json()["data"]
        assert (sub["inbound"], sub["twoway"], sub["calls"]) == (1, 1, 2)
        reseller = usage(world.r_admin, world.r).json()["data"]
        assert (reseller["twoway"], reseller["calls"]) == (2, 2), "the reseller's trunks carry its sub-accounts' calls"
        assert usage(world.master, world.s).json()["data"] == sub
        for grant in grants[:2]:
            await trunks.release(grant)
        assert usage(world.c_admin, world.s).json()["data"]["calls"] == 0
        assert usage(world.r_admin, world.r).json()["data"]["calls"] == 0
    finally:
        await trunks.close()
        await store.dispose()


def test_usage_is_for_the_account_and_its_ancestors_only(world):
    for client, account in ((world.x_admin, world.c), (world.c_admin, world.x), (world.c_admin, world.r)):
        resp = usage(client, account)
        assert resp.status_code == 403, resp.text
    assert usage(world.d_admin, world.c).status_code == 403
    assert world.c_admin.post(f"accounts/{world.c['id']}/limits/usage", {}).status_code == 405
