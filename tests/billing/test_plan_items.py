"""KAZOO's service plan item model in integer units: rates, tiers, flat rates, minimum, maximum, step, single and
cumulative discounts, `_all` with exceptions and `as`, cascade quantities, merge strategies, overrides, and what a
change adds (activation and recurring)."""

from __future__ import annotations

import pytest

from cloudpbx.billing.invoice import Assigned, charges, lines, merged, plus, recurring
from cloudpbx.billing.items import price
from cloudpbx.billing.monthly import month_arg, previous, prorated
from cloudpbx.errors import Invalid

D = 10_000  # units per dollar


@pytest.mark.parametrize(
    ("item", "quantity", "total"),
    [
        ({"rate": 2.5}, 4, 10 * D),
        ({"rate": 2.5}, 0, 0),
        ({"rates": {"5": 3, "10": 2}, "rate": 1}, 5, 15 * D),  # the tier covering 5: the whole quantity at 3
        ({"rates": {"5": 3, "10": 2}, "rate": 1}, 6, 12 * D),
        ({"rates": {"5": 3, "10": 2}, "rate": 1}, 11, 11 * D),  # past every tier: `rate`
        ({"flat_rates": {"3": 20}, "rate": 9}, 2, 20 * D),  # flat first
        ({"flat_rates": {"3": 20}, "rate": 9}, 4, 36 * D),
        ({"flat_rate": 15}, 3, 15 * D),
        ({"rate": 1, "minimum": 5}, 2, 5 * D),
        ({"rate": 1, "minimum": 5}, 7, 7 * D),
        ({"rate": 1, "maximum": 10}, 25, 10 * D),
        ({"rate": 1, "step": 10}, 11, 20 * D),
        ({"rate": 0.0001}, 3, 3),
    ],
)
def test_item_totals(item, quantity, total):
    assert price("devices", "sip_device", item, quantity).total == total


def test_single_and_cumulative_discounts():
    item = {"rate": 10, "discounts": {"single": {"rate": 4}, "cumulative": {"rate": 1, "maximum": 3}}}
    line = price("users", "user", item, 5)
    assert (line.single_discount, line.cumulative_discount, line.cumulative_units) == (4 * D, 3 * D, 3)
    assert line.total == (50 - 4 - 3) * D
    tiered = {"rate": 10, "discounts": {"cumulative": {"rates": {"2": 5, "100": 1}}}}
    assert price("users", "user", tiered, 2).total == (20 - 10) * D
    assert price("users", "user", tiered, 3).total == (30 - 3) * D
    generous = {"rate": 1, "discounts": {"single": {"rate": 50}}}
    assert price("users", "user", generous, 2).total == 0, "a discount never makes a line negative"


def test_all_with_exceptions_and_as_and_cascade():
    plan = {
        "phone_numbers": {"_all": {"rate": 1, "exceptions": ["tollfree_us"], "as": "did"}, "tollfree_us": {"rate": 4}},
        "devices": {"sip_device": {"rate": 2, "cascade": True}},
    }
    own = {"phone_numbers": {"did_us": 3, "tollfree_us": 2, "international": 1}, "devices": {"sip_device": 1}}
    cascade = {"phone_numbers": {"did_us": 30}, "devices": {"sip_device": 7}}
    found = {(ln.category, ln.item): ln.total for ln in lines(plan, own, cascade)}
    assert found == {
        ("devices", "sip_device"): 14 * D,
        ("phone_numbers", "did"): 4 * D,
        ("phone_numbers", "tollfree_us"): 8 * D,
    }
    assert recurring(lines(plan, own, cascade)) == 26 * D


def test_merge_strategies_priorities_and_overrides():
    low = {"_id": "a", "merge": {"priority": 1}, "plan": {"users": {"user": {"rate": 5, "activation_charge": 1}}}}
    high_simple = {"_id": "b", "merge": {"priority": 2}, "plan": {"users": {"user": {"rate": 3}}}}
    assert merged([Assigned(high_simple, {}), Assigned(low, {})]) == {"users": {"user": {"rate": 3}}}
    high_recursive = {**high_simple, "merge": {"priority": 2, "strategy": "recursive"}}
    assert merged([Assigned(low, {}), Assigned(high_recursive, {})]) == {
        "users": {"user": {"rate": 3, "activation_charge": 1}}
    }
    cumulative = {**high_simple, "merge": {"priority": 2, "strategy": "cumulative"}}
    assert merged([Assigned(low, {}), Assigned(cumulative, {})])["users"]["user"]["rate"] == 8
    per_plan = merged([Assigned(low, {"users": {"user": {"rate": 4}}})])
    assert per_plan == {"users": {"user": {"rate": 4, "activation_charge": 1}}}
    account = merged([Assigned(low, {})], {"users": {"user": {"activation_charge": None}, "admin": {"rate": 9}}})
    assert account == {"users": {"user": {"rate": 5}, "admin": {"rate": 9}}}


def test_charges_of_a_change():
    plan = {"devices": {"sip_device": {"rate": 2, "activation_charge": 5}}, "users": {"user": {"rate": 0}}}
    own = {"devices": {"sip_device": 1}}
    before = lines(plan, own, own)
    after_quantities = plus(own, {("devices", "sip_device"): 2, ("users", "user"): 1})
    found = charges(before, lines(plan, after_quantities, after_quantities))
    assert [(c.line.item, c.added, c.activation, c.recurring) for c in found] == [("sip_device", 2, 10 * D, 4 * D)]
    assert charges(before, lines(plan, plus(own, {("users", "user"): 3}), own)) == [], "a free item costs nothing"


def test_amounts_finer_than_a_unit_are_refused():
    with pytest.raises(Invalid) as refused:
        price("devices", "sip_device", {"rate": 0.00001}, 1)
    assert "plan.devices.sip_device.rate" in refused.value.data


def test_proration_and_months():
    span = (1000, 1000 + 30 * 86400 - 1)
    assert prorated(30 * D, span[0], span) == 30 * D
    assert prorated(30 * D, span[0] + 10 * 86400, span) == 20 * D
    assert prorated(1, span[0] + 15 * 86400, span) == 1, "half a unit rounds up"
    assert prorated(30 * D, span[1] + 1, span) == 0
    assert (month_arg("2026-12"), month_arg("202601"), previous("202601"), previous("202612")) == (
        "202612",
        "202601",
        "202512",
        "202611",
    )
    with pytest.raises(Invalid):
        month_arg("2026-13")
