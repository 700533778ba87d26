"""Routing a dialled number to a callflow: exact numbers, the longest pattern, captures, no_match, and changes.

Callflows are created through the API of the served platform; the router runs in-process over the same database.
"""

from __future__ import annotations

import random

import pytest

from cloudpbx.callflow.lookup import Route

FLOW = {"module": "response", "data": {"code": 404}}


@pytest.fixture(scope="module")
def account(master) -> str:
    """An account without its default no_match callflow: numbers its callflows do not hold route nowhere."""
    account_id = master.create_account(master.account_id)["id"]
    master.drop_no_match(account_id)
    return account_id


def callflow(master, account: str, **fields) -> str:
    return master.create(account, "callflows", {"flow": FLOW, **fields})["id"]


async def route(platform, account: str, number: str, authorized: bool = True) -> Route | None:
    return await platform.callflows.router.lookup(account, number, authorized=authorized)


async def routed_to(platform, account: str, number: str, authorized: bool = True) -> str | None:
    found = await route(platform, account, number, authorized)
    return found.callflow["_id"] if found else None


async def test_an_exact_number_wins_over_a_pattern(master, platform, account):
    exact = callflow(master, account, numbers=["3001"])
    pattern = callflow(master, account, patterns=[r"^3\d{3}$"])
    found = await route(platform, account, "3001")
    assert found.callflow["_id"] == exact and found.capture_group is None and found.capture_groups == {}
    other = await route(platform, account, "3002")
    assert other.callflow["_id"] == pattern and other.capture_group == "3002"  # no groups: the whole match
    assert await route(platform, account, "30021") is None


async def test_a_dialled_national_number_reaches_the_callflow_of_its_e164_form(master, platform, account):
    number = f"+1628{random.randrange(2_000_000, 9_999_999)}"
    assert master.put(f"accounts/{account}/phone_numbers/{number}").status_code == 201
    main = callflow(master, account, numbers=[number[2:]])
    assert master.get(f"accounts/{account}/callflows/{main}").json()["data"]["numbers"] == [number]
    assert await routed_to(platform, account, number[2:]) == main
    assert await routed_to(platform, account, number) == main


async def test_the_longest_capture_wins_whichever_pattern_comes_first(master, platform, account):
    one_digit = callflow(master, account, patterns=[r"^\*5(\d)"])
    all_digits = callflow(master, account, patterns=[r"^\*5(\d+)$"])
    found = await route(platform, account, "*5123")
    assert found.callflow["_id"] == all_digits and found.capture_group == "123"
    assert await routed_to(platform, account, "*5") is None
    assert (await route(platform, account, "*51x")).callflow["_id"] == one_digit
    whole = callflow(master, account, patterns=[r"^8\d+$"])
    callflow(master, account, patterns=[r"^8(\d+)$"])
    found = await route(platform, account, "8123")
    assert found.callflow["_id"] == whole and found.capture_group == "8123"  # longer than the group's "123"


async def test_named_captures_in_kazoo_and_python_syntax(master, platform, account):
    pcre = callflow(master, account, patterns=[r"^\*7(?<ext>\d{3})(?<rest>\d*)$"])
    python = callflow(master, account, patterns=[r"^\*\*(?P<code>\d{2})#(?P<target>\d{4})$"])
    found = await route(platform, account, "*71234")
    assert found.callflow["_id"] == pcre
    assert found.capture_group == "123" and found.capture_groups == {"ext": "123", "rest": "4"}
    short = await route(platform, account, "*7123")
    assert short.capture_groups == {"ext": "123"}  # empty captures are left out
    found = await route(platform, account, "**42#1000")
    assert found.callflow["_id"] == python
    assert found.capture_group == "1000" and found.capture_groups == {"code": "42", "target": "1000"}


async def test_no_match_only_for_digits_and_only_for_authorized_callers(master, platform):
    account = master.create_account(master.account_id)["id"]
    catch_all = master.no_match_callflow(account)  # every new account's, to offnet
    extension = callflow(master, account, numbers=["100"])
    for number in ("5551234", "+4930123456", "0"):
        found = await route(platform, account, number)
        assert found.callflow["_id"] == catch_all and found.no_match, number
        assert await route(platform, account, number, authorized=False) is None, number
    for number in ("12ab", "*99", "+", "1+2", "sip-user"):
        assert await route(platform, account, number) is None, number
    found = await route(platform, account, "100", authorized=False)
    assert found.callflow["_id"] == extension and not found.no_match
    assert await route(platform, account, "no_match", authorized=False) is None


async def test_deleted_callflows_are_not_matched(master, platform, account):
    exact = callflow(master, account, numbers=["7001"])
    pattern = callflow(master, account, patterns=[r"^7(\d{3})$"])
    assert await routed_to(platform, account, "7001") == exact
    assert master.delete(f"accounts/{account}/callflows/{exact}").status_code == 200
    assert await routed_to(platform, account, "7001") == pattern
    assert master.delete(f"accounts/{account}/callflows/{pattern}").status_code == 200
    assert await route(platform, account, "7001") is None


async def test_updates_are_seen_at_once_and_unchanged_patterns_stay_compiled(master, platform, account):
    router = platform.callflows.router
    changing = callflow(master, account, patterns=[r"^6(\d{3})$"])
    assert await routed_to(platform, account, "6001") == changing
    compiled = router._cache[account]
    assert await routed_to(platform, account, "6002") == changing
    assert router._cache[account] is compiled  # nothing changed: no recompiling

    path = f"accounts/{account}/callflows/{changing}"
    assert master.post(path, {"patterns": [r"^6(\d{2})$"], "flow": FLOW}).status_code == 200
    assert await route(platform, account, "6001") is None
    assert (await route(platform, account, "601")).capture_group == "01"

    new_flow = {"module": "response", "data": {"code": 503}}
    assert master.patch(path, {"flow": new_flow}).status_code == 200
    assert (await route(platform, account, "601")).callflow["flow"]["data"]["code"] == 503

    added = callflow(master, account, patterns=[r"^6(\d{4})$"])
    assert await routed_to(platform, account, "61234") == added
    assert router._cache[account] is not compiled
