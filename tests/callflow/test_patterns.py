"""Tenant regular expressions: only what RE2 runs in linear time is stored, and many patterns route as few do.

Saves go through the API of the served platform; lookups run on a router in this process over the same database,
so they also show that a second process sees pattern changes through the account's pattern marker.
"""

from __future__ import annotations

import pytest

from cloudpbx import regex
from cloudpbx.accounts.patterns import MAX_PER_ACCOUNT
from tests.callflow.test_lookup import FLOW, callflow, route, routed_to

REFUSED = {
    "(\\d)\\1": "backreference",
    "(?P<d>\\d)(?P=d)": "backreference",
    "^(?=1)\\d+$": "lookahead",
    "^(?!0)\\d+$": "negative lookahead",
    "(?<=\\*)\\d+": "lookbehind",
    "(?<!\\+)\\d+": "negative lookbehind",
    "(?>\\d+)1": "atomic group",
    "^\\d++$": "possessive",
    "([": "missing ]",
    "\\d{1001}": "repetition",
    "(\\d{100}){100}": "repetition",
    ".{300}": "too complex",
}


@pytest.fixture(scope="module")
def account(master) -> str:
    return master.create_account(master.account_id)["id"]


def refused(resp, field: str) -> dict:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["status"] == "error" and body["error"] == "400", body
    return body["data"][field]["regex"]


def test_patterns_that_need_backtracking_or_do_not_parse_are_refused_with_the_reason(master, account):
    before = master.get(f"accounts/{account}/callflows").json()["data"]
    for pattern, reason in REFUSED.items():
        resp = master.put(f"accounts/{account}/callflows", {"patterns": ["^2\\d{3}$", pattern], "flow": FLOW})
        detail = refused(resp, "patterns.1")
        assert detail["value"] == pattern and reason in detail["message"], (pattern, detail)
    assert master.get(f"accounts/{account}/callflows").json()["data"] == before  # nothing stored


async def test_kazoo_syntax_that_re2_runs_is_accepted_and_routes(master, platform, account):
    stalling = callflow(master, account, patterns=["^(\\d+)+$"])
    assert await routed_to(platform, account, "1" * 28) == stalling
    assert await route(platform, account, "1" * 28 + "a") is None
    named = callflow(master, account, patterns=["^\\*8(?<ext>\\d{3})\\Z"])  # PCRE's \Z: end of the number
    found = await route(platform, account, "*8123")
    assert found.callflow["_id"] == named and found.capture_groups == {"ext": "123"}
    assert await routed_to(platform, account, "*81234") != named


def test_dial_plans_menus_and_metaflows_are_checked_too(master, account):
    bad, good = "^(\\d)\\1$", "^(\\d{7})$"
    plan = {"dial_plan": {good: {"prefix": "+1415"}, bad: {"prefix": "+1"}}}
    assert refused(master.post(f"accounts/{account}", {"name": "Patterned", **plan}), f"dial_plan.{bad}")
    assert refused(
        master.put(f"accounts/{account}/users", {"first_name": "D", "last_name": "P", **plan}), f"dial_plan.{bad}"
    )
    assert refused(master.put(f"accounts/{account}/devices", {"name": "dp", **plan}), f"dial_plan.{bad}")
    assert refused(master.put(f"accounts/{account}/menus", {"name": "m", "hunt_allow": "(?!9)\\d+"}), "hunt_allow")
    assert refused(master.put(f"accounts/{account}/menus", {"name": "m", "hunt_deny": "(a|"}), "hunt_deny")
    meta = {"metaflows": {"patterns": {"(\\d)\\1": {"module": "hold"}}}}
    assert refused(
        master.put(f"accounts/{account}/users", {"first_name": "M", "last_name": "F", **meta}),
        "metaflows.patterns.(\\d)\\1",
    )
    resp = master.put(f"accounts/{account}/devices", {"name": "dp", "dial_plan": {good: {"prefix": "+1415"}}})
    assert resp.status_code == 201, resp.text
    resp = master.put(f"accounts/{account}/menus", {"name": "m", "hunt_allow": "^1\\d{3}$", "hunt_deny": "^19"})
    assert resp.status_code == 201, resp.text


def test_number_classifiers_are_checked_when_the_config_is_saved(master):
    path = "system_configs/number_manager"
    kept = master.get(path)
    master.delete(path)
    broken = {"default": {"classifiers": {"fine": {"regex": "^\\+1\\d{10}$"}, "bad": {"regex": "^(?=\\+)"}}}}
    detail = refused(master.put(path, broken), "default.classifiers.bad.regex")
    assert "lookahead" in detail["message"]
    assert master.get(path).status_code == 404  # nothing stored
    fine = {"default": {"classifiers": {"fine": {"regex": "^\\+1(\\d{10})$", "friendly_name": "NANP"}}}}
    assert master.put(path, fine).status_code == 201
    try:
        assert master.get("phone_numbers/classifiers/4155550100").json()["data"]["name"] == "fine"
    finally:
        master.delete(path)
        if kept.status_code == 200:
            master.put(path, {k: v for k, v in kept.json()["data"].items() if k != "id"})


@pytest.mark.same_on_every_database  # a bound the API checks before the store is asked
def test_count_bounds_per_callflow_and_per_account(master):
    account = master.create_account(master.account_id)["id"]
    over = [f"^{i}$" for i in range(1001)]
    resp = master.put(f"accounts/{account}/callflows", {"patterns": over, "flow": FLOW})
    assert resp.status_code == 400 and "maxItems" in resp.json()["data"]["patterns"], resp.text
    per_callflow = 1000
    for start in range(0, MAX_PER_ACCOUNT, per_callflow):
        callflow(master, account, patterns=[f"^{i}(\\d)$" for i in range(start, start + per_callflow)])
    resp = master.put(f"accounts/{account}/callflows", {"patterns": ["^x$"], "flow": FLOW})
    assert resp.status_code == 400, resp.text
    assert resp.json()["data"]["patterns"]["maxItems"]["target"] == MAX_PER_ACCOUNT


async def test_many_patterns_route_like_few_across_every_slice(master, platform):
    account = master.create_account(master.account_id)["id"]
    master.drop_no_match(account)  # a number no pattern matches then routes nowhere
    ids = [
        callflow(master, account, patterns=[f"^{9000 + i * 1000 + j}(\\d{{{1 + j % 3}}})$" for j in range(1000)])
        for i in range(3)
    ]
    compiled = (await platform.callflows.router._compiled(account)).patterns
    assert len(compiled) == 3000 and len(compiled.slices) > 1
    for i, doc_id in enumerate(ids):
        found = await route(platform, account, f"{9000 + i * 1000 + 997}12")  # j = 997: two digits
        assert found.callflow["_id"] == doc_id and found.capture_group == "12"
    assert await route(platform, account, f"{9000 + 997}1") is None
    longest = callflow(master, account, patterns=["^(1\\d{5})(\\d*)$"])
    shorter = callflow(master, account, patterns=["^1(\\d{3})"])
    found = await route(platform, account, "12345678")
    assert found.callflow["_id"] == longest and found.capture_group == "123456"
    assert (await route(platform, account, "12345")).callflow["_id"] == shorter


def test_the_engine_refuses_what_it_cannot_run_in_linear_time():
    for pattern in REFUSED:
        with pytest.raises(regex.PatternError):
            regex.compile(pattern)
    with pytest.raises(regex.PatternError, match="too long"):
        regex.compile("1" * (regex.MAX_LENGTH + 1))
    assert regex.compile("^(\\d+)+$").search("1" * 10_000 + "a") is None
