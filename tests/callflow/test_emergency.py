"""Emergency calls: the caller ID they present (device → user → account `caller_id.emergency`, checked against the
account's E911 numbers), the refusal when none is configured, and the `emergency_bridge` alert with who sees it.

Settings and numbers go in through the API of the served platform; the choice and the alert run in-process over the
same database, and the alert is read back through the API.
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest

from cloudpbx.callflow.caller_id import CallerId
from cloudpbx.callflow.emergency_bridge import EmergencyBridge
from tests.api.test_phone_numbers import E911, add, block
from tests.helpers import unique

PHONE = CallerId("Desk Phone", "2001")  # what the phone itself sent


@pytest.fixture(scope="module")
def site(master) -> SimpleNamespace:
    """reseller R → customer C (a user with a desk phone and a lobby phone; numbers: one with an E911 address, one
    without) and its sibling X; a second customer N with no E911 number at all."""
    r = master.create_account(master.account_id, unique("E911 Reseller"))["id"]
    assert master.put(f"accounts/{r}/reseller").status_code == 200
    c = master.create_account(r, unique("E911 Customer"))["id"]
    x = master.create_account(r, unique("E911 Sibling"))["id"]
    n = master.create_account(r, unique("E911 Nowhere"), caller_id={"external": {"number": "+15550009999"}})["id"]
    plain, located, second = block(3)
    add(master, c, plain)
    add(master, c, located, e911=E911)
    add(master, c, second, e911=dict(E911, street_address="1 Market St"))
    user = master.create(c, "users", {"first_name": "Eve", "last_name": "Caller", "email": "eve@example.com"})
    desk = master.create(c, "devices", {"name": "Eve desk", "owner_id": user["id"]})
    lobby = master.create(c, "devices", {"name": "Lobby"})
    nobody = master.create(n, "devices", {"name": "Nowhere phone"})
    admins = {f"{name}_admin": master.admin_of(acc) for name, acc in (("r", r), ("c", c), ("x", x))}
    return SimpleNamespace(
        r=r, c=c, x=x, n=n, plain=plain, located=located, second=second, user=user["id"], desk=desk["id"],
        lobby=lobby["id"], nobody=nobody["id"], **admins,
    )  # fmt: skip


def set_caller_id(master, path: str, caller_id: dict | None) -> None:
    """Replace the document's caller ID settings (a PATCH merges: clear them first)."""
    for value in (None, caller_id) if caller_id else (None,):
        resp = master.patch(path, {"caller_id": value})
        assert resp.status_code == 200, resp.text


@contextlib.contextmanager
def stepswitch(master, **settings):
    """System config `stepswitch` set for the block, then as it was."""
    path = "system_configs/stepswitch"
    before = master.get(path)
    kept = before.json()["data"] if before.status_code == 200 else None
    resp = master.post(path, {"default": settings}) if kept else master.put(path, {"default": settings})
    assert resp.status_code in (200, 201), resp.text
    try:
        yield
    finally:
        if kept is None:
            assert master.delete(path).status_code == 200
        else:
            assert master.post(path, {k: v for k, v in kept.items() if k != "id"}).status_code == 200


async def choose(platform, account: str, device: str | None, **kw):
    doc = await platform.store.get(account, device) if device else None
    return await platform.emergency_caller_ids.choose(account, doc, PHONE, **kw)


async def test_the_configured_emergency_number_is_used_when_it_has_an_e911_address(master, platform, site):
    device_path = f"accounts/{site.c}/devices/{site.desk}"
    set_caller_id(master, device_path, {"emergency": {"name": "Eve at desk", "number": site.second}})
    try:
        chosen = await choose(platform, site.c, site.desk)
        assert (chosen.caller_id.name, chosen.caller_id.number) == ("Eve at desk", site.second)
        assert chosen.e911 and not chosen.flagged and not chosen.refused
        assert chosen.address["street_address"] == "1 Market St" and chosen.address["postal_code"] == "94105"
    finally:
        set_caller_id(master, device_path, None)


async def test_the_users_then_the_accounts_setting_applies_and_an_unlocated_number_is_replaced(master, platform, site):
    user_path, account_path = f"accounts/{site.c}/users/{site.user}", f"accounts/{site.c}"
    set_caller_id(master, account_path, {"emergency": {"number": site.located}})
    set_caller_id(master, user_path, {"emergency": {"number": site.second[2:]}})  # national form, same number
    try:
        assert (await choose(platform, site.c, site.desk)).caller_id.number == site.second[2:]
        assert (await choose(platform, site.c, site.lobby)).caller_id.number == site.located
        assert (await choose(platform, site.c, None)).caller_id.number == site.located, "no device: the account's"
        set_caller_id(master, user_path, {"emergency": {"number": site.plain}, "external": {"number": site.second}})
        outbound = await choose(platform, site.c, site.desk)
        assert outbound.caller_id.number == site.second and outbound.e911, "the outbound number has an address"
        set_caller_id(master, user_path, {"emergency": {"number": site.plain}})
        first = await choose(platform, site.c, site.desk)
        assert first.caller_id.number == site.located and first.e911, "the account's first E911 number"
        assert first.address["street_address"] == E911["street_address"]
    finally:
        set_caller_id(master, user_path, None)
        set_caller_id(master, account_path, None)


async def test_privacy_is_never_applied_to_an_emergency_call(master, platform, site):
    path = f"accounts/{site.c}/devices/{site.desk}"
    resp = master.patch(path, {"caller_id_options": {"outbound_privacy": "full"}})
    assert resp.status_code == 200
    try:
        sip = (await choose(platform, site.c, site.desk)).caller_id.sip()
        assert sip.privacy is None and sip.user == site.located
    finally:
        assert master.patch(path, {"caller_id_options": None}).status_code == 200


async def test_without_any_e911_number_the_call_goes_out_flagged_unless_denied(master, platform, site):
    unlocated = await choose(platform, site.n, site.nobody)
    assert not unlocated.refused and unlocated.flagged and unlocated.address is None
    assert unlocated.cdr_vars()["emergency_call"] is True and unlocated.cdr_vars()["emergency_cid_valid"] is False
    assert unlocated.caller_id.number == "+15550009999", "the best caller ID known"
    with stepswitch(master, default_emergency_cid_number="+15550000911"):
        assert (await choose(platform, site.n, site.nobody)).caller_id.number == "+15550000911"
    with stepswitch(master, deny_invalid_emergency_cid=True):
        denied = await choose(platform, site.n, site.nobody)
        assert denied.refused and (denied.code, denied.cause) == (486, "Emergency service not configured")
        located = await choose(platform, site.c, site.desk)
        assert not located.refused and located.e911, "an account with an E911 number is never refused"
        local = await choose(platform, site.n, site.nobody, local=True)
        assert not local.refused and local.flagged, "the account's own carriers are not validated"


async def test_without_validation_the_configured_number_is_presented_as_is(master, platform, site):
    path = f"accounts/{site.c}/devices/{site.desk}"
    set_caller_id(master, path, {"emergency": {"number": site.plain}})
    try:
        with stepswitch(master, ensure_valid_emergency_cid=False):
            chosen = await choose(platform, site.c, site.desk)
            assert chosen.caller_id.number == site.plain and chosen.flagged and not chosen.refused
    finally:
        set_caller_id(master, path, None)


def alert_ids(client, account: str) -> set[str]:
    resp = client.get(f"accounts/{account}/alerts")
    assert resp.status_code == 200, resp.text
    return {alert["id"] for alert in resp.json()["data"]}


async def test_every_emergency_call_raises_an_alert_for_the_account_and_its_reseller(master, platform, site):
    device = await platform.store.get(site.c, site.desk)
    chosen = await choose(platform, site.c, site.desk)
    delivered = []

    async def deliver(event, alert):
        delivered.append((event.call_id, alert["id"]))

    bridge = EmergencyBridge(platform.documents, platform.directory)  # its own subscribers
    bridge.subscribe(deliver)
    event = await bridge.event(
        site.c,
        device,
        "call-911-a",
        "911",
        caller_id_name=chosen.caller_id.name,
        caller_id_number=chosen.caller_id.number,
        address=chosen.address,
    )
    alert = await bridge.raised(event)
    assert delivered == [("call-911-a", alert["id"])]
    assert alert["id"] in alert_ids(site.c_admin, site.c) and alert["id"] in alert_ids(site.r_admin, site.r)
    assert alert["id"] not in alert_ids(site.x_admin, site.x), "a sibling never sees it"
    read = site.c_admin.get(f"accounts/{site.c}/alerts/{alert['id']}").json()["data"]
    meta = read["metadata"]
    assert (meta["account_id"], meta["device_id"], meta["device_name"]) == (site.c, site.desk, "Eve desk")
    assert (meta["user_id"], meta["user_name"], meta["user_email"]) == (site.user, "Eve Caller", "eve@example.com")
    assert (meta["dialled"], meta["caller_id_number"], meta["test"]) == ("911", site.located, False)
    assert meta["address"]["locality"] == "San Francisco" and read["category"] == "emergency_bridge"
    assert "Eve Caller" in read["message"] and "116 Natoma St" in read["message"]
    assert site.x_admin.get(f"accounts/{site.x}/alerts/{alert['id']}").status_code == 404


async def test_a_failing_subscriber_keeps_neither_the_alert_nor_the_others_from_going_on(platform, site):
    """Besides: the platform's own bridge is the one its services hand out."""
    assert isinstance(platform.emergency_bridge, EmergencyBridge)
    seen = []

    async def broken(event, alert):
        raise RuntimeError("mail server down")

    async def counting(event, alert):
        seen.append(event.test)

    bridge = EmergencyBridge(platform.documents, platform.directory)
    bridge.subscribe(broken)
    bridge.subscribe(counting)
    event = await bridge.event(
        site.c, None, "call-933", "933", caller_id_name="", caller_id_number="", address=None, test=True
    )
    alert = await bridge.raised(event)
    assert seen == [True] and alert["title"] == "Emergency test call"
    assert alert["id"] in alert_ids(site.c_admin, site.c)
