"""The call restriction merge (KAZOO's `merge_call_restrictions`) for every combination of the account's, the
owner's and the device's action, and what closed groups look at: pure functions, no server."""

from __future__ import annotations

import pytest

from cloudpbx.numbers.restrictions import Decision, action, decide, extension, groups_of

# account, owner ("none": the device has no owner), device → merged action, deciding level; "-" means unset.
TABLE = """
    -        none     -        inherit  device
    -        none     inherit  inherit  device
    -        none     deny     deny     device
    -        -        -        inherit  device
    -        -        inherit  inherit  device
    -        -        deny     deny     device
    -        inherit  -        inherit  device
    -        inherit  inherit  inherit  device
    -        inherit  deny     deny     device
    -        deny     -        deny     owner
    -        deny     inherit  deny     owner
    -        deny     deny     deny     owner
    -        allow    -        allow    owner
    -        allow    inherit  allow    owner
    -        allow    deny     allow    owner
    inherit  none     -        inherit  device
    inherit  none     inherit  inherit  device
    inherit  none     deny     deny     device
    inherit  -        -        inherit  device
    inherit  -        inherit  inherit  device
    inherit  -        deny     deny     device
    inherit  inherit  -        inherit  device
    inherit  inherit  inherit  inherit  device
    inherit  inherit  deny     deny     device
    inherit  deny     -        deny     owner
    inherit  deny     inherit  deny     owner
    inherit  deny     deny     deny     owner
    inherit  allow    -        allow    owner
    inherit  allow    inherit  allow    owner
    inherit  allow    deny     allow    owner
    deny     none     -        deny     account
    deny     none     inherit  deny     account
    deny     none     deny     deny     account
    deny     -        -        deny     account
    deny     -        inherit  deny     account
    deny     -        deny     deny     account
    deny     inherit  -        deny     account
    deny     inherit  inherit  deny     account
    deny     inherit  deny     deny     account
    deny     deny     -        deny     account
    deny     deny     inherit  deny     account
    deny     deny     deny     deny     account
    deny     allow    -        deny     account
    deny     allow    inherit  deny     account
    deny     allow    deny     deny     account
"""
ROWS = [line.split() for line in TABLE.strip().splitlines()]


def restricted(value: str, other: str = "inherit") -> dict:
    """A document whose international class has `value` ("-": unset) and whose did_us class has `other`."""
    classes = {"did_us": {"action": other}}
    if value != "-":
        classes["international"] = {"action": value}
    return {"_id": "doc", "call_restriction": classes}


def test_the_table_covers_every_combination_once():
    assert len({tuple(row[:3]) for row in ROWS}) == len(ROWS) == 3 * 5 * 3


@pytest.mark.parametrize(("account", "owner", "device", "merged", "level"), ROWS)
def test_merge(account, owner, device, merged, level):
    owner_doc = None if owner == "none" else restricted(owner)
    assert decide("international", restricted(account), owner_doc, restricted(device)) == Decision(merged, level)


def test_one_class_never_decides_another():
    denied_elsewhere = restricted("-", other="deny")
    assert decide("international", denied_elsewhere, denied_elsewhere, restricted("-")) == Decision("inherit", "device")
    assert decide("did_us", restricted("-"), None, restricted("-")).action == "inherit"


def test_international_needs_both_the_account_and_the_user_open():
    """The operator guide's FAQ: enabling international on the account alone, or the user alone, is not enough."""
    open_, closed, phone = restricted("inherit"), restricted("deny"), restricted("-")
    assert decide("international", open_, closed, phone).action == "deny"
    assert decide("international", closed, open_, phone).action == "deny"
    assert decide("international", open_, open_, phone).action == "inherit"


@pytest.mark.parametrize(
    "junk",
    [
        None,
        {},
        {"call_restriction": []},
        {"call_restriction": {"international": "deny"}},
        {"call_restriction": {"international": {"action": 1}}},
    ],
)
def test_malformed_restrictions_read_as_unset(junk):
    assert action(junk, "international") is None


@pytest.mark.parametrize(
    ("flow", "expected"),
    [
        ({"module": "user", "data": {"id": "u1"}}, ("user", "u1")),
        ({"module": "device", "data": {"id": "d1"}, "children": {"_": {"module": "voicemail"}}}, ("device", "d1")),
        ({"module": "user", "data": {"id": "u1"}, "children": {"_": {"module": "ring_group"}}}, None),
        ({"module": "ring_group", "data": {"endpoints": []}}, None),
        ({"module": "user", "data": {}}, None),
        (None, None),
    ],
)
def test_an_extension_is_a_callflow_that_rings_one_user_or_device_then_maybe_voicemail(flow, expected):
    assert extension(flow) == expected


def test_groups_of_the_members_listed():
    groups = [
        {"_id": "sales", "endpoints": {"u1": {"type": "user"}, "d2": {"type": "device"}}},
        {"_id": "support", "endpoints": {"u3": {"type": "user"}}},
        {"_id": "empty"},
    ]
    assert groups_of(["u1", None], groups) == {"sales"}
    assert groups_of(["d2", "u3"], groups) == {"sales", "support"}
    assert groups_of(["nobody"], groups) == set()
