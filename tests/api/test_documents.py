"""Every account document endpoint × every verb, schema validation and defaults, and each kind's own rules."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import pytest

from cloudpbx import schemas
from cloudpbx.api.endpoints import ENDPOINTS
from cloudpbx.api.endpoints.base import DocumentEndpoint
from tests.helpers import Client


def tag() -> str:
    return secrets.token_hex(4)


def extension() -> str:
    """A random 7-digit extension: too short to be taken for a phone number, so it needs no ownership."""
    return str(2_000_000 + secrets.randbelow(8_000_000))


@dataclass
class Spec:
    """How to exercise one noun: a valid doc, a different valid doc, a patch, and defaults KAZOO fills in."""

    create: dict
    replace: dict
    patch: dict
    defaults: dict = field(default_factory=dict)
    invalid: list = field(default_factory=list)  # (data, field path, rule)


SPECS = {
    "users": Spec(
        create={"first_name": "Ada", "last_name": "King", "email": "ada@example.com", "timezone": "Europe/London"},
        replace={"first_name": "Grace", "last_name": "Hopper"},
        patch={"last_name": "Byron", "hotdesk": {"enabled": True}},
        defaults={
            "priv_level": "user",
            "enabled": True,
            "vm_to_email_enabled": True,
            "require_password_update": False,
            "verified": False,
        },
        invalid=[
            ({"last_name": "x"}, "first_name", "required"),
            ({"first_name": "", "last_name": "x"}, "first_name", "minLength"),
            ({"first_name": "x" * 129, "last_name": "x"}, "first_name", "maxLength"),
            ({"first_name": 5, "last_name": "x"}, "first_name", "type"),
            ({"first_name": "a", "last_name": "b", "priv_level": "root"}, "priv_level", "enum"),
            ({"first_name": "a", "last_name": "b", "email": "not-an-email"}, "email", "wrong_format"),
            ({"first_name": "a", "last_name": "b", "username": "has space"}, "username", "pattern"),
            ({"first_name": "a", "last_name": "b", "hotdesk": {"pin": "12"}}, "hotdesk.pin", "minLength"),
        ],
    ),
    "devices": Spec(
        create={"name": "Desk phone", "caller_id": {"internal": {"name": "Desk"}}},
        replace={"name": "Softphone", "device_type": "softphone"},
        patch={"sip": {"expire_seconds": 600}},
        defaults={
            "device_type": "sip_device",
            "enabled": True,
            "exclude_from_queues": False,
            "sip": {"method": "password", "invite_format": "contact", "expire_seconds": 300},
        },
        invalid=[
            ({}, "name", "required"),
            ({"name": "d", "sip": {"invite_format": "bogus"}}, "sip.invite_format", "enum"),
            ({"name": "d", "sip": {"username": "a"}}, "sip.username", "minLength"),
            ({"name": "d", "sip": {"password": "x" * 40}}, "sip.password", "maxLength"),
            ({"name": "d", "media": {"audio": {"codecs": ["NOPE"]}}}, "media.audio.codecs.0", "enum"),
            ({"name": "d", "enabled": "maybe"}, "enabled", "type"),
        ],
    ),
    "callflows": Spec(
        create={"name": "Reception", "numbers": ["2100"], "flow": {"module": "noop", "data": {}}},
        replace={"name": "Reception", "patterns": ["^\\*21$"], "flow": {"module": "hangup", "data": {}}},
        patch={"name": "Reception 2"},
        defaults={"numbers": [], "patterns": []},
        invalid=[
            ({"numbers": "2100"}, "numbers", "type"),
            ({"numbers": ["2101", "2101"]}, "numbers", "uniqueItems"),
            ({"numbers": [""]}, "numbers.0", "minLength"),
            ({"patterns": ["^" + "1" * 300 + "$"]}, "patterns.0", "maxLength"),
            ({"numbers": ["2102"], "flow": {"data": {}}}, "flow.module", "required"),
        ],
    ),
    "groups": Spec(
        create={"name": "Sales", "endpoints": {}},
        replace={"name": "Support", "endpoints": {}},
        patch={"music_on_hold": {"media_id": "hold"}},
        invalid=[
            ({"name": "g"}, "endpoints", "required"),
            ({"endpoints": {}}, "name", "required"),
            ({"name": "g", "endpoints": []}, "endpoints", "type"),
        ],
    ),
    "vmboxes": Spec(
        create={"name": "Main box", "mailbox": "5100", "pin": "1234"},
        replace={"name": "Other box", "mailbox": "5101"},
        patch={"skip_greeting": True},
        defaults={
            "require_pin": False,
            "check_if_owner": True,
            "media_extension": "mp3",
            "delete_after_notify": False,
            "notify_email_addresses": [],
            "seek_duration_ms": 10000,
        },
        invalid=[
            ({"name": "v"}, "mailbox", "required"),
            ({"mailbox": "1"}, "name", "required"),
            ({"name": "v", "mailbox": "5102", "pin": "12"}, "pin", "minLength"),
            ({"name": "v", "mailbox": "5103", "media_extension": "ogg"}, "media_extension", "enum"),
        ],
    ),
    "conferences": Spec(
        create={"name": "Standup", "member": {"numbers": ["7000"]}},
        replace={"name": "Retro"},
        patch={"max_participants": 10},
        defaults={
            "play_name": False,
            "member": {"join_muted": True, "join_deaf": False},
            "moderator": {"join_muted": False},
        },
        invalid=[
            ({"name": "c", "member": {"numbers": ["abc"]}}, "member.numbers.0", "pattern"),
            ({"name": ""}, "name", "minLength"),
            ({"name": "c", "max_participants": "many"}, "max_participants", "type"),
        ],
    ),
    "faxboxes": Spec(
        create={"name": "Fax in"},
        replace={"name": "Fax out", "retries": 3},
        patch={"fax_header": "ACME"},
        defaults={"caller_name": "Kazoo Fax Printer", "fax_header": "Kazoo Fax Printer", "retries": 1, "attempts": 0},
        invalid=[
            ({}, "name", "required"),
            ({"name": "f", "retries": 9}, "retries", "maximum"),
            ({"name": "f", "retries": -1}, "retries", "minimum"),
        ],
    ),
    "menus": Spec(
        create={"name": "Main menu"},
        replace={"name": "After hours", "timeout": 5000},
        patch={"hunt": False},
        defaults={
            "retries": 3,
            "max_extension_length": 4,
            "hunt": True,
            "allow_record_from_offnet": False,
            "suppress_media": False,
        },
        invalid=[
            ({}, "name", "required"),
            ({"name": "m", "retries": 0}, "retries", "minimum"),
            ({"name": "m", "max_extension_length": 7}, "max_extension_length", "maximum"),
            ({"name": "m", "record_pin": "1"}, "record_pin", "minLength"),
        ],
    ),
    "temporal_rules": Spec(
        create={"name": "Weekdays", "cycle": "weekly", "wdays": ["monday", "friday"]},
        replace={"name": "New year", "cycle": "yearly", "month": 1, "days": [1]},
        patch={"time_window_start": 32400},
        defaults={"interval": 1, "start_date": 62586115200},
        invalid=[
            ({"name": "t"}, "cycle", "required"),
            ({"name": "t", "cycle": "hourly"}, "cycle", "enum"),
            ({"name": "t", "cycle": "weekly", "wdays": ["funday"]}, "wdays.0", "enum"),
            ({"name": "t", "cycle": "yearly", "month": 13}, "month", "maximum"),
            ({"name": "t", "cycle": "daily", "time_window_stop": 90000}, "time_window_stop", "maximum"),
        ],
    ),
    "temporal_rules_sets": Spec(
        create={"name": "Holidays", "temporal_rules": ["r1"]},
        replace={"name": "Closures", "temporal_rules": ["r2", "r3"]},
        patch={"type": "main_holidays"},
        invalid=[({}, "name", "required"), ({"name": "s", "temporal_rules": []}, "temporal_rules", "minItems")],
    ),
    "directories": Spec(
        create={"name": "Company directory"},
        replace={"name": "Staff", "sort_by": "first_name"},
        patch={"min_dtmf": 2},
        defaults={
            "min_dtmf": 3,
            "max_dtmf": 0,
            "sort_by": "last_name",
            "confirm_match": True,
            "search_fields": "both",
            "users": [],
        },
        invalid=[
            ({}, "name", "required"),
            ({"name": "d", "sort_by": "age"}, "sort_by", "enum"),
            ({"name": "d", "min_dtmf": 0}, "min_dtmf", "minimum"),
        ],
    ),
    "external_numbers": Spec(
        create={"number": "+14155550199", "name": "Cell"},
        replace={"number": "+14155550198"},
        patch={"description": "mobile"},
        invalid=[
            ({"name": "n"}, "number", "required"),
            ({"number": ""}, "number", "minLength"),
            ({"number": 4155550199}, "number", "type"),
        ],
    ),
}


def _sample(schema: dict) -> object:
    """A minimal value that satisfies a (resolved) property schema, for nouns without a hand-written spec."""
    schema = schemas._resolve(schema)
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "integer" or kind == "number":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "object":
        return {k: _sample(schema["properties"][k]) for k in schema.get("required", [])}
    if kind == "array":
        return [_sample(schema.get("items", {"type": "string"}))] * schema.get("minItems", 0)
    return "x" * max(schema.get("minLength", 1), 3)


def _generic_spec(noun: str) -> Spec:
    schema = schemas.load(noun)
    base = {k: _sample(schema["properties"][k]) for k in schema.get("required", [])}
    return Spec(create=dict(base), replace=dict(base), patch={"ui_metadata": {"origin": "tests"}})


def plain_nouns() -> list[str]:
    """Nouns served by the generic document endpoint (read at run time, so new ones are covered too)."""
    return sorted(noun for noun, endpoint in ENDPOINTS.items() if type(endpoint) is DocumentEndpoint)


NOUNS = sorted(set(SPECS) | set(plain_nouns()))


def spec_of(noun: str) -> Spec:
    return SPECS.get(noun) or _generic_spec(noun)


def subset(expected: dict, actual: dict) -> bool:
    """Every key of `expected` is in `actual` with the same value (objects compared recursively)."""
    for key, value in expected.items():
        if isinstance(value, dict) and isinstance(actual.get(key), dict):
            if not subset(value, actual[key]):
                return False
        elif actual.get(key) != value:
            return False
    return True


def unless_in(expected: dict, overridden: dict) -> dict:
    return {k: v for k, v in expected.items() if k not in overridden}


def assert_invalid(resp, path: str, rule: str) -> dict:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error"] == "400" and body["message"] == "validation error"
    assert rule in body["data"].get(path, {}), body["data"]
    assert body["data"][path][rule]["message"]
    return body["data"][path][rule]


@pytest.fixture(scope="module")
def acct(master) -> str:
    return master.create_account(master.account_id)["id"]


@pytest.fixture(scope="module")
def other(master) -> str:
    return master.create_account(master.account_id)["id"]


def ids_of(master, account_id: str, noun: str) -> list[str]:
    resp = master.get(f"accounts/{account_id}/{noun}?paginate=false")
    assert resp.status_code == 200, resp.text
    return [row["id"] for row in resp.json()["data"]]


# Every noun × every verb -------------------------------------------------------------------------------------------


def test_every_expected_noun_is_served():
    assert set(SPECS) <= set(ENDPOINTS)


@pytest.mark.parametrize("noun", NOUNS)
def test_crud_round_trip(master, acct, noun):
    spec = spec_of(noun)
    base = f"accounts/{acct}/{noun}"
    resp = master.put(base, spec.create)
    assert resp.status_code == 201, resp.text
    created = resp.json()["data"]
    doc_id = created["id"]
    assert resp.headers["location"] == doc_id
    assert subset(spec.create, created)
    assert subset(unless_in(spec.defaults, spec.create), created), created
    assert not any(k.startswith(("pvt_", "_")) for k in created)

    got = master.get(f"{base}/{doc_id}")
    assert got.status_code == 200
    assert {k: v for k, v in got.json()["data"].items() if k != "metadata"} == created
    assert doc_id in ids_of(master, acct, noun)

    replaced = master.post(f"{base}/{doc_id}", spec.replace)
    assert replaced.status_code == 200, replaced.text
    data = replaced.json()["data"]
    assert subset(spec.replace, data)
    gone = set(spec.create) - set(spec.replace) - set(spec.defaults)
    assert not gone & set(data), f"POST must drop fields not sent: {gone & set(data)}"
    assert subset(unless_in(spec.defaults, spec.replace), data)

    patched = master.patch(f"{base}/{doc_id}", spec.patch)
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert subset(spec.patch, data) and subset(unless_in(spec.replace, spec.patch), data)
    assert master.get(f"{base}/{doc_id}").json()["data"].items() >= data.items()

    deleted = master.delete(f"{base}/{doc_id}")
    assert deleted.status_code == 200
    assert deleted.json()["data"]["_read_only"] == {"deleted": True}
    missing = master.get(f"{base}/{doc_id}")
    assert missing.status_code == 404 and missing.json()["message"] == "bad_identifier"
    assert doc_id not in ids_of(master, acct, noun)


@pytest.mark.parametrize("noun,case", [(n, i) for n in SPECS for i in range(len(SPECS[n].invalid))])
def test_validation_errors_are_keyed_by_path_then_rule(master, acct, noun, case):
    data, path, rule = SPECS[noun].invalid[case]
    before = ids_of(master, acct, noun)
    assert_invalid(master.put(f"accounts/{acct}/{noun}", data), path, rule)
    assert ids_of(master, acct, noun) == before


@pytest.mark.parametrize("noun", sorted(SPECS))
def test_invalid_replace_and_patch_change_nothing(master, acct, noun):
    spec = SPECS[noun]
    doc = master.create(acct, noun, spec.create)
    before = master.get(f"accounts/{acct}/{noun}/{doc['id']}").json()
    data, path, rule = spec.invalid[0]
    assert_invalid(master.post(f"accounts/{acct}/{noun}/{doc['id']}", data), path, rule)
    data, path, rule = next(case for case in spec.invalid if case[2] != "required")
    assert_invalid(master.patch(f"accounts/{acct}/{noun}/{doc['id']}", data), path, rule)
    after = master.get(f"accounts/{acct}/{noun}/{doc['id']}").json()
    assert after["data"] == before["data"] and after["revision"] == before["revision"]
    master.delete(f"accounts/{acct}/{noun}/{doc['id']}")


def test_validation_reports_every_failing_field(master, acct):
    resp = master.put(f"accounts/{acct}/users", {"priv_level": "root", "email": "x"})
    assert resp.status_code == 400
    errors = resp.json()["data"]
    assert {"first_name", "last_name", "priv_level", "email"} <= errors.keys()
    assert errors["first_name"] == {"required": {"message": "Field is required but missing"}}
    assert errors["priv_level"]["enum"]["value"] == "root"


def test_min_length_error_carries_target_and_value(master, acct):
    detail = assert_invalid(
        master.put(f"accounts/{acct}/devices", {"name": "d", "sip": {"username": "a"}}), "sip.username", "minLength"
    )
    assert detail["target"] == 2 and detail["value"] == "a"


def test_non_strict_coercion_of_strings(master, acct):
    menu = master.create(acct, "menus", {"name": "Coerce", "retries": "5", "hunt": "false"})
    assert menu["retries"] == 5 and menu["hunt"] is False
    device = master.create(acct, "devices", {"name": "Coerce", "sip": {"expire_seconds": "600"}, "enabled": "true"})
    assert device["sip"]["expire_seconds"] == 600 and device["enabled"] is True
    assert_invalid(master.put(f"accounts/{acct}/menus", {"name": "x", "retries": "five"}), "retries", "type")


def test_unknown_fields_are_kept(master, acct):
    """KAZOO schemas allow extra keys; UIs rely on them (ui_metadata, custom flags)."""
    device = master.create(acct, "devices", {"name": "Extra", "custom_thing": {"a": 1}})
    assert master.get(f"accounts/{acct}/devices/{device['id']}").json()["data"]["custom_thing"] == {"a": 1}


# Users -------------------------------------------------------------------------------------------------------------


def test_user_password_is_hashed_and_never_returned(master, acct):
    username = f"Pw{tag()}"
    resp = master.put(
        f"accounts/{acct}/users", {"first_name": "P", "last_name": "W", "username": username, "password": "my-secret-1"}
    )
    assert resp.status_code == 201
    assert "my-secret-1" not in resp.text and "password" not in resp.json()["data"]
    user_id = resp.json()["data"]["id"]
    assert "my-secret-1" not in master.get(f"accounts/{acct}/users/{user_id}").text
    assert "my-secret-1" not in master.get(f"accounts/{acct}/users?paginate=false").text
    patched = master.patch(f"accounts/{acct}/users/{user_id}", {"password": "other-secret-2"})
    assert patched.status_code == 200 and "password" not in patched.json()["data"]


def test_username_is_lowercased_and_logs_in_any_case(master, acct):
    username = f"MiXeD{tag()}"
    user = master.create(
        acct, "users", {"first_name": "M", "last_name": "C", "username": username, "password": "case-pass-1"}
    )
    assert user["username"] == username.lower()
    realm = master.get(f"accounts/{acct}").json()["data"]["realm"]
    client = Client(master.base)
    client.login(username.upper(), "case-pass-1", account_realm=realm)
    assert client.owner_id == user["id"]


def test_username_is_unique_per_account(master, acct, other):
    username = f"dup{tag()}"
    master.create(acct, "users", {"first_name": "A", "last_name": "B", "username": username})
    resp = master.put(f"accounts/{acct}/users", {"first_name": "C", "last_name": "D", "username": username.upper()})
    detail = assert_invalid(resp, "username", "unique")
    assert detail["cause"] == username
    assert (
        master.put(f"accounts/{other}/users", {"first_name": "C", "last_name": "D", "username": username}).status_code
        == 201
    )


def test_changing_the_username_needs_the_password(master, acct):
    user = master.create(
        acct, "users", {"first_name": "R", "last_name": "N", "username": f"ren{tag()}", "password": "rename-pass-1"}
    )
    path = f"accounts/{acct}/users/{user['id']}"
    assert_invalid(master.patch(path, {"username": f"new{tag()}"}), "password", "required")
    assert master.patch(path, {"username": f"new{tag()}", "password": "rename-pass-2"}).status_code == 200


# Devices -----------------------------------------------------------------------------------------------------------


def test_sip_username_unique_per_realm(master, acct, other):
    username = f"sip{tag()}"
    first = master.create(acct, "devices", {"name": "One", "sip": {"username": username, "password": "pass-12"}})
    resp = master.put(f"accounts/{acct}/devices", {"name": "Two", "sip": {"username": username.upper()}})
    detail = assert_invalid(resp, "sip.username", "unique")
    assert detail["cause"] == username
    # another account has another realm: the same username is fine there
    assert (
        master.put(f"accounts/{other}/devices", {"name": "Elsewhere", "sip": {"username": username}}).status_code == 201
    )
    # moving the username off the first device frees it
    master.patch(f"accounts/{acct}/devices/{first['id']}", {"sip": {"username": f"moved{tag()}"}})
    assert master.put(f"accounts/{acct}/devices", {"name": "Three", "sip": {"username": username}}).status_code == 201


def test_mac_address_unique(master, acct):
    master.create(acct, "devices", {"name": "Mac 1", "mac_address": "00:11:22:33:44:55"})
    assert_invalid(
        master.put(f"accounts/{acct}/devices", {"name": "Mac 2", "mac_address": "00-11-22-33-44-55"}),
        "mac_address",
        "unique",
    )


def test_device_owner_must_be_a_user_of_the_account(master, acct, other):
    stranger = master.create(other, "users", {"first_name": "S", "last_name": "T"})
    resp = master.put(f"accounts/{acct}/devices", {"name": "Stolen", "owner_id": stranger["id"]})
    assert assert_invalid(resp, "owner_id", "not_found")["cause"] == stranger["id"]
    menu = master.create(acct, "menus", {"name": "Not a user"})
    assert_invalid(
        master.put(f"accounts/{acct}/devices", {"name": "Odd", "owner_id": menu["id"]}), "owner_id", "not_found"
    )
    owner = master.create(acct, "users", {"first_name": "O", "last_name": "W"})
    device = master.create(acct, "devices", {"name": "Mine", "owner_id": owner["id"]})
    assert device["owner_id"] == owner["id"]
    master.delete(f"accounts/{acct}/users/{owner['id']}")
    assert_invalid(
        master.put(f"accounts/{acct}/devices", {"name": "Orphan", "owner_id": owner["id"]}), "owner_id", "not_found"
    )


def test_user_devices_listing(master, acct):
    owner = master.create(acct, "users", {"first_name": "L", "last_name": "D"})
    mine = master.create(acct, "devices", {"name": "L phone", "owner_id": owner["id"]})
    master.create(acct, "devices", {"name": "Someone else's"})
    rows = master.get(f"accounts/{acct}/users/{owner['id']}/devices").json()["data"]
    assert [r["id"] for r in rows] == [mine["id"]]


# Callflows ---------------------------------------------------------------------------------------------------------


def test_callflow_needs_a_number_or_pattern(master, acct):
    detail = assert_invalid(
        master.put(f"accounts/{acct}/callflows", {"name": "Nothing", "numbers": []}), "numbers", "required"
    )
    assert "number or pattern" in detail["message"]
    assert master.put(f"accounts/{acct}/callflows", {"patterns": [f"^\\*9{tag()}$"]}).status_code == 201


def test_callflow_numbers_that_normalise_to_nothing_are_refused(master, acct):
    for blank in ("\u000b", " ", "\t\n"):
        resp = master.put(f"accounts/{acct}/callflows", {"numbers": [blank], "flow": {"module": "response"}})
        assert resp.status_code == 400, resp.text
        assert "minLength" in resp.json()["data"]["numbers"]


def test_callflow_numbers_and_patterns_unique_per_account(master, acct, other):
    number = extension()
    master.create(acct, "callflows", {"numbers": [number], "patterns": ["^\\*77(\\d+)$"]})
    assert (
        assert_invalid(master.put(f"accounts/{acct}/callflows", {"numbers": [number]}), "numbers", "unique")["cause"]
        == number
    )
    assert_invalid(master.put(f"accounts/{acct}/callflows", {"patterns": ["^\\*77(\\d+)$"]}), "patterns", "unique")
    assert master.put(f"accounts/{other}/callflows", {"numbers": [number]}).status_code == 201


def test_callflow_pattern_must_compile(master, acct):
    assert_invalid(master.put(f"accounts/{acct}/callflows", {"patterns": ["^(\\d+$"]}), "patterns.0", "regex")


def test_ten_digit_numbers_are_normalised_to_e164(master, acct):
    digits = f"4155{int(tag(), 16) % 10**6:06d}"
    added = master.put(f"accounts/{acct}/phone_numbers/%2B1{digits}", {})
    assert added.status_code == 201, added.text
    flow = master.create(acct, "callflows", {"numbers": [digits, "1234"], "flow": {"module": "noop", "data": {}}})
    assert flow["numbers"] == [f"+1{digits}", "1234"]
    assert_invalid(master.put(f"accounts/{acct}/callflows", {"numbers": [f"+1{digits}"]}), "numbers", "unique")


def test_callflow_did_not_owned_is_refused(master, acct):
    assert master.put(f"accounts/{acct}/callflows", {"numbers": ["+14155550000"]}).status_code == 400


def test_callflow_flow_modules_and_targets_are_checked(master, acct, other):
    assert_invalid(
        master.put(
            f"accounts/{acct}/callflows", {"numbers": [extension()], "flow": {"module": "teleport", "data": {}}}
        ),
        "flow.module",
        "enum",
    )
    nested = {"module": "noop", "data": {}, "children": {"_": {"module": "warp", "data": {}}}}
    assert_invalid(
        master.put(f"accounts/{acct}/callflows", {"numbers": [extension()], "flow": nested}),
        "flow.children._.module",
        "enum",
    )
    stranger = master.create(other, "users", {"first_name": "X", "last_name": "Y"})
    to_stranger = {"module": "user", "data": {"id": stranger["id"]}}
    assert_invalid(
        master.put(f"accounts/{acct}/callflows", {"numbers": [extension()], "flow": to_stranger}),
        "flow.data.id",
        "not_found",
    )
    device = master.create(acct, "devices", {"name": "Target"})
    assert_invalid(
        master.put(
            f"accounts/{acct}/callflows",
            {"numbers": [extension()], "flow": {"module": "user", "data": {"id": device["id"]}}},
        ),
        "flow.data.id",
        "not_found",
    )


def test_callflow_get_adds_metadata_and_listing_adds_modules(master, acct):
    user = master.create(acct, "users", {"first_name": "Meta", "last_name": "Data"})
    vmbox = master.create(acct, "vmboxes", {"name": "Meta box", "mailbox": f"8{tag()}"})
    flow = {
        "module": "user",
        "data": {"id": user["id"]},
        "children": {"_": {"module": "voicemail", "data": {"id": vmbox["id"]}}},
    }
    callflow = master.create(
        acct,
        "callflows",
        {"name": "Meta", "numbers": [extension()], "flow": flow, "featurecode": {"name": "meta", "number": "66"}},
    )
    got = master.get(f"accounts/{acct}/callflows/{callflow['id']}").json()["data"]
    assert got["metadata"][user["id"]]["name"] == "Meta Data"
    assert got["metadata"][vmbox["id"]]["name"] == "Meta box"
    rows = {r["id"]: r for r in master.get(f"accounts/{acct}/callflows?paginate=false").json()["data"]}
    assert rows[callflow["id"]]["modules"] == ["user", "voicemail"]
    assert rows[callflow["id"]]["featurecode"] == {"name": "meta", "number": "66"}
    plain = master.create(acct, "callflows", {"numbers": [extension()]})
    rows = {r["id"]: r for r in master.get(f"accounts/{acct}/callflows?paginate=false").json()["data"]}
    assert rows[plain["id"]]["featurecode"] is False and rows[plain["id"]]["modules"] == []


def test_callflow_ui_fields_are_persisted(master, acct):
    data = {
        "numbers": [extension()],
        "type": "main",
        "ui_is_main_number_cf": True,
        "ui_metadata": {"version": "4.3", "ui": "monster-ui", "origin": "voip"},
    }
    callflow = master.create(acct, "callflows", data)
    got = master.get(f"accounts/{acct}/callflows/{callflow['id']}").json()["data"]
    assert subset({k: v for k, v in data.items() if k != "numbers"}, got)
    row = next(
        r for r in master.get(f"accounts/{acct}/callflows?paginate=false").json()["data"] if r["id"] == callflow["id"]
    )
    assert row["type"] == "main" and row["ui_is_main_number_cf"] is True and row["ui_metadata"]["origin"] == "voip"


def test_deleting_a_callflow_frees_its_numbers(master, acct):
    number = extension()
    callflow = master.create(acct, "callflows", {"numbers": [number]})
    master.delete(f"accounts/{acct}/callflows/{callflow['id']}")
    assert master.put(f"accounts/{acct}/callflows", {"numbers": [number]}).status_code == 201


# Vmboxes and groups ------------------------------------------------------------------------------------------------


def test_vmbox_mailbox_unique_per_account(master, acct, other):
    mailbox = f"{int(tag(), 16) % 10**6}"
    master.create(acct, "vmboxes", {"name": "One", "mailbox": mailbox})
    assert_invalid(master.put(f"accounts/{acct}/vmboxes", {"name": "Two", "mailbox": mailbox}), "mailbox", "unique")
    assert master.put(f"accounts/{other}/vmboxes", {"name": "Two", "mailbox": mailbox}).status_code == 201


def test_group_members_must_exist(master, acct):
    user = master.create(acct, "users", {"first_name": "G", "last_name": "M"})
    group = master.create(acct, "groups", {"name": "Members", "endpoints": {user["id"]: {"type": "user"}}})
    assert group["endpoints"] == {user["id"]: {"type": "user"}}
    ghost = "9" * 32
    assert_invalid(
        master.put(f"accounts/{acct}/groups", {"name": "Ghosts", "endpoints": {ghost: {"type": "user"}}}),
        f"endpoints.{ghost}",
        "not_found",
    )
