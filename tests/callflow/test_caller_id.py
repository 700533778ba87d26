"""Caller ID a device presents: device → owner user → account → ancestors, per call type, and privacy.

Settings go in through the API of the served platform; resolution runs in-process over the same database.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.callflow.caller_id import CallerId, CallerIds

PHONE = CallerId("Desk Phone", "999")  # what the phone itself sent (From header)


@pytest.fixture(scope="module")
def office(master) -> SimpleNamespace:
    """parent (external name) → account (external number); a user with internal name; their device with the
    internal number; a second device without owner or caller ID."""
    parent = master.create_account(
        master.account_id, caller_id={"external": {"name": "Parent Corp", "number": "+15550001000"}}
    )["id"]
    account = master.create_account(parent, caller_id={"external": {"number": "+15550002000"}})["id"]
    user = master.create(
        account,
        "users",
        {"first_name": "Uma", "last_name": "User", "caller_id": {"internal": {"name": "Uma User", "number": "201"}}},
    )
    owned = master.create(
        account, "devices", {"name": "Uma desk", "owner_id": user["id"], "caller_id": {"internal": {"number": "2011"}}}
    )
    loose = master.create(account, "devices", {"name": "Lobby"})
    return SimpleNamespace(parent=parent, account=account, user=user["id"], owned=owned["id"], loose=loose["id"])


async def caller_id(platform, office, device: str, call_type: str = "internal", ids: CallerIds | None = None):
    doc = await platform.store.get(office.account, getattr(office, device))
    return await (ids or platform.callflows.caller_ids).for_device(office.account, doc, call_type, PHONE)


def set_privacy(master, office, level: str, mode: str | None) -> None:
    paths = {
        "parent": f"accounts/{office.parent}",
        "account": f"accounts/{office.account}",
        "user": f"accounts/{office.account}/users/{office.user}",
        "owned": f"accounts/{office.account}/devices/{office.owned}",
        "loose": f"accounts/{office.account}/devices/{office.loose}",
    }
    resp = master.patch(paths[level], {"caller_id_options": {"outbound_privacy": mode} if mode else None})
    assert resp.status_code == 200, resp.text


async def test_internal_caller_id_takes_each_part_from_the_nearest_level(platform, office):
    cid = await caller_id(platform, office, "owned")
    assert (cid.name, cid.number) == ("Uma User", "2011")
    assert not cid.hide_name and not cid.hide_number


async def test_external_caller_id_comes_from_the_account_tree(platform, office):
    cid = await caller_id(platform, office, "owned", "external")
    assert (cid.name, cid.number) == ("Parent Corp", "+15550002000")


async def test_emergency_calls_fall_back_to_the_external_caller_id(master, platform, office):
    assert (await caller_id(platform, office, "owned", "emergency")).number == "+15550002000"
    path = f"accounts/{office.account}/users/{office.user}"
    assert (
        master.patch(
            path,
            {"caller_id": {"internal": {"name": "Uma User", "number": "201"}, "emergency": {"number": "+15559110000"}}},
        ).status_code
        == 200
    )
    assert (await caller_id(platform, office, "owned", "emergency")).number == "+15559110000"


async def test_what_the_phone_sent_fills_what_nothing_configures(platform, office):
    cid = await caller_id(platform, office, "loose")
    assert (cid.name, cid.number) == ("Desk Phone", "999")
    sip = cid.sip()
    assert (sip.display, sip.user, sip.privacy) == ("Desk Phone", "999", None)


@pytest.mark.parametrize(
    "mode,shown,privacy",
    [
        ("full", ("anonymous", "0000000000"), "id"),
        ("name", ("anonymous", "2011"), "id"),
        ("number", ("Uma User", "0000000000"), "id"),
        ("none", ("Uma User", "2011"), None),
    ],
)
async def test_each_privacy_mode_hides_its_part(master, platform, office, mode, shown, privacy):
    set_privacy(master, office, "owned", mode)
    try:
        cid = await caller_id(platform, office, "owned")
        assert (cid.hide_name, cid.hide_number) == (mode in ("full", "name"), mode in ("full", "number"))
        sip = cid.sip()
        assert (sip.display, sip.user, sip.privacy) == (*shown, privacy)
        assert (sip.asserted_name, sip.asserted_number) == ("Uma User", "2011")  # the true identity stays known
    finally:
        set_privacy(master, office, "owned", None)


async def test_privacy_is_inherited_and_the_nearest_setting_wins(master, platform, office):
    set_privacy(master, office, "parent", "number")
    set_privacy(master, office, "user", "full")
    try:
        owned, loose = await caller_id(platform, office, "owned"), await caller_id(platform, office, "loose")
        assert (owned.shown_name, owned.shown_number) == ("anonymous", "0000000000")  # from the user
        assert (loose.shown_name, loose.shown_number) == ("Desk Phone", "0000000000")  # from the parent account
        set_privacy(master, office, "owned", "none")
        set_privacy(master, office, "account", "name")
        owned, loose = await caller_id(platform, office, "owned"), await caller_id(platform, office, "loose")
        assert (owned.shown_name, owned.shown_number) == ("Uma User", "2011")  # the device's own "none"
        assert (loose.shown_name, loose.shown_number) == ("anonymous", "999")  # the account beats its parent
    finally:
        for level in ("parent", "account", "user", "owned"):
            set_privacy(master, office, level, None)


async def test_the_anonymous_name_and_number_are_system_settings(master, platform, office):
    path = "system_configs/privacy"
    assert master.put(path, {"default": {"privacy_name": "Withheld", "privacy_number": "anonymous"}}).status_code == 201
    set_privacy(master, office, "owned", "full")
    try:
        uncached = SystemConfigs(platform.store)  # no cached system config
        fresh = CallerIds(platform.documents, platform.accounts, uncached)
        sip = (await caller_id(platform, office, "owned", ids=fresh)).sip()
        assert (sip.display, sip.user) == ("Withheld", "anonymous")
    finally:
        set_privacy(master, office, "owned", None)
        assert master.delete(path).status_code == 200
