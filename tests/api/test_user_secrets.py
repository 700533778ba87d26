"""What a user-level login may read and change inside its own account: no secrets of documents it does not own,
none of the fields only admins set."""

from __future__ import annotations

import pytest

from cloudpbx.api.secrets import ANY, SECRETS
from tests.helpers import Client, unique

PASSWORD = "Us3r-level-1"


@pytest.fixture(scope="module")
def office(master):
    """An account with an admin (ann) and a user-level user (ulf), each with a phone, a mailbox and a conference."""
    account = master.create_account(master.account_id, unique("Secrets"))
    aid = account["id"]
    people = {}
    for name, priv in (("ann", "admin"), ("ulf", "user")):
        user = master.create(
            aid,
            "users",
            {
                "first_name": name,
                "last_name": "X",
                "username": name,
                "password": PASSWORD,
                "priv_level": priv,
                "hotdesk": {"id": f"{len(name)}0{priv[0] == 'a':d}", "pin": "90210"},
                "call_restriction": {"international": {"action": "deny"}},
            },
        )
        device = master.create(
            aid,
            "devices",
            {
                "name": f"{name} phone",
                "owner_id": user["id"],
                "sip": {"username": f"{name}-sip", "password": f"{name}-Secret-99"},
            },
        )
        box = master.create(
            aid,
            "vmboxes",
            {"name": f"{name} box", "mailbox": f"{len(people) + 100}", "owner_id": user["id"], "pin": "4321"},
        )
        conf = master.create(
            aid,
            "conferences",
            {
                "name": f"{name} room",
                "owner_id": user["id"],
                "member": {"pins": ["1111"]},
                "moderator": {"pins": ["2222"]},
            },
        )
        people[name] = {"user": user, "device": device, "vmbox": box, "conference": conf}
    ulf = Client(master.base)
    ulf.login("ulf", PASSWORD, account_name=account["name"])
    ann = Client(master.base)
    ann.login("ann", PASSWORD, account_name=account["name"])
    return {"id": aid, "as_ulf": ulf, "as_ann": ann, **people}


def test_a_user_does_not_read_the_sip_password_of_a_phone_it_does_not_own(office):
    aid, ulf = office["id"], office["as_ulf"]
    theirs = ulf.get(f"accounts/{aid}/devices/{office['ann']['device']['id']}")
    assert theirs.status_code == 200
    assert "password" not in theirs.json()["data"]["sip"]
    assert theirs.json()["data"]["sip"]["username"] == "ann-sip"
    assert "ann-Secret-99" not in theirs.text
    mine = ulf.get(f"accounts/{aid}/devices/{office['ulf']['device']['id']}").json()["data"]
    assert mine["sip"]["password"] == "ulf-Secret-99"
    inherited = ulf.get(f"accounts/{aid}/devices/{office['ann']['device']['id']}?include_inherited=true")
    assert inherited.status_code == 200 and "ann-Secret-99" not in inherited.text
    admin_view = office["ann"]["device"]["id"]
    assert (
        office["as_ann"].get(f"accounts/{aid}/devices/{admin_view}").json()["data"]["sip"]["password"]
        == "ann-Secret-99"
    )


def test_a_user_cannot_probe_secrets_with_listing_filters(office):
    aid, ulf = office["id"], office["as_ulf"]
    for query in (
        "filter_sip.password=ann-Secret-99",
        "filter_not_sip.password=x",
        "has_value=sip.password",
        "filter_sip=x",
    ):
        refused = ulf.get(f"accounts/{aid}/devices?{query}")
        assert refused.status_code == 403, (query, refused.text)
        assert refused.json()["message"] == "forbidden"
    assert ulf.get(f"accounts/{aid}/vmboxes?filter_pin=4321").status_code == 403
    assert ulf.get(f"accounts/{aid}/devices?filter_name=ann%20phone").json()["data"][0]["name"] == "ann phone"
    admin = office["as_ann"].get(f"accounts/{aid}/devices?filter_sip.password=ann-Secret-99").json()["data"]
    assert [d["id"] for d in admin] == [office["ann"]["device"]["id"]]


def test_a_user_does_not_read_other_pins(office):
    aid, ulf = office["id"], office["as_ulf"]
    box = ulf.get(f"accounts/{aid}/vmboxes/{office['ann']['vmbox']['id']}").json()["data"]
    assert "pin" not in box and box["mailbox"] == office["ann"]["vmbox"]["mailbox"]
    assert ulf.get(f"accounts/{aid}/vmboxes/{office['ulf']['vmbox']['id']}").json()["data"]["pin"] == "4321"
    other = ulf.get(f"accounts/{aid}/users/{office['ann']['user']['id']}").json()["data"]
    assert "pin" not in other["hotdesk"] and other["hotdesk"]["id"]
    assert ulf.get(f"accounts/{aid}/users/{ulf.owner_id}").json()["data"]["hotdesk"]["pin"] == "90210"
    rooms = {c["id"]: c for c in ulf.get(f"accounts/{aid}/conferences").json()["data"]}
    theirs, mine = rooms[office["ann"]["conference"]["id"]], rooms[office["ulf"]["conference"]["id"]]
    assert "pins" not in theirs["member"] and "pins" not in theirs["moderator"]
    assert mine["member"]["pins"] == ["1111"] and mine["moderator"]["pins"] == ["2222"]
    csv = ulf.get(f"accounts/{aid}/conferences", headers={"Accept": "text/csv"})
    assert csv.status_code == 200 and "2222" in csv.text  # its own room's PINs only
    assert csv.text.count("2222") == 1


@pytest.mark.parametrize(
    "field,value",
    [
        ("verified", True),
        ("priv_level", "admin"),
        ("enabled", False),
        ("apps", {"voip": {"allowed": True}}),
        ("call_restriction", {"international": {"action": "inherit"}}),
        ("caller_id", {"external": {"number": "+1555"}}),
        ("caller_id_options", {"outbound_privacy": "full"}),
        ("dial_plan", {"^(\\d{7})$": {"prefix": "+1415"}}),
        ("feature_level", "premium"),
        ("hotdesk", {"id": "77", "pin": "0000"}),
        ("presence_id", "ann"),
    ],
)
def test_a_user_cannot_set_admin_only_fields_on_itself(office, field, value):
    aid, ulf = office["id"], office["as_ulf"]
    path = f"accounts/{aid}/users/{ulf.owner_id}"
    patched = ulf.patch(path, {field: value})
    assert patched.status_code == 403, patched.text
    assert patched.json()["data"]["cause"] == field
    whole = ulf.get(path).json()["data"]
    assert ulf.post(path, dict(whole, **{field: value})).status_code == 403
    assert office["as_ann"].patch(path, {"first_name": "Ulf"}).status_code == 200  # admins may do what users may not
    assert ulf.get(path).json()["data"].get(field) == whole.get(field)


def test_a_user_keeps_editing_its_own_profile(office):
    aid, ulf = office["id"], office["as_ulf"]
    path = f"accounts/{aid}/users/{ulf.owner_id}"
    assert ulf.patch(path, {"first_name": "Ulfric", "timezone": "Europe/Oslo", "verified": False}).status_code == 200
    whole = ulf.get(path).json()["data"]
    trimmed = {k: v for k, v in whole.items() if k not in ("call_restriction", "hotdesk", "priv_level")}
    kept = ulf.post(path, dict(trimmed, last_name="Olsen"))
    assert kept.status_code == 200, kept.text
    data = kept.json()["data"]
    assert data["last_name"] == "Olsen" and data["priv_level"] == "user"
    assert data["call_restriction"] == {"international": {"action": "deny"}}  # left out is kept, not dropped
    assert data["hotdesk"]["pin"] == "90210"


def test_replies_without_secrets_still_match_the_published_schemas(master):
    """Hiding a secret must not make a reply break its schema: no schema in the document requires one (nor, with
    `minProperties`, needs the object that holds it to keep it)."""
    components = master.get("openapi.json").json()["components"]["schemas"]
    for noun, paths in SECRETS.items():
        for path in paths:
            node = components[noun]
            for i, part in enumerate(path):
                if part == ANY:  # every item of a list: the list itself stays, whole
                    node = node["items"]
                    continue
                kept = path[i + 1 : i + 2] == (ANY,)
                assert (kept or part not in node.get("required", [])) and "minProperties" not in node, (noun, path)
                node = node["properties"][part]
                node = components[node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node
