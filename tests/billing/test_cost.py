"""The per-minute cost formula (KAZOO's calculate_call) in integer units: its edges, one table row each."""

from __future__ import annotations

import pytest

from cloudpbx.billing.cost import Pricing, base_cost, billed_seconds, call_cost

DOLLAR_A_MINUTE = 10_000  # units

CASES = [
    # (pricing, seconds, discount %, billed seconds, units, why)
    (Pricing(DOLLAR_A_MINUTE, 60, 60), 0, 0, 0, 0, "an unanswered call costs nothing"),
    (Pricing(DOLLAR_A_MINUTE, 60, 60), 1, 0, 60, 10_000, "one second is the minimum"),
    (Pricing(DOLLAR_A_MINUTE, 60, 60), 60, 0, 60, 10_000, "exactly the minimum"),
    (Pricing(DOLLAR_A_MINUTE, 60, 60), 61, 0, 120, 20_000, "one second past it starts an increment"),
    (Pricing(DOLLAR_A_MINUTE, 6, 30), 31, 0, 36, 6_000, "30/6 billing: minimum then six-second steps"),
    (Pricing(DOLLAR_A_MINUTE, 6, 30), 36, 0, 36, 6_000, "a step filled exactly"),
    (Pricing(DOLLAR_A_MINUTE, 1, 0), 7, 0, 7, 1_167, "per second: 7/60 of a dollar rounds half up"),
    (Pricing(DOLLAR_A_MINUTE, 60, 60, 0, 5), 5, 0, 0, 0, "within the no-charge time"),
    (Pricing(DOLLAR_A_MINUTE, 60, 60, 0, 5), 6, 0, 60, 10_000, "past it the whole call is billed"),
    (Pricing(DOLLAR_A_MINUTE, 60, 60, 2_500), 10, 0, 60, 12_500, "the surcharge comes on top"),
    (Pricing(0, 60, 60, 2_500), 10, 0, 60, 2_500, "a free rate still has its surcharge"),
    (Pricing(DOLLAR_A_MINUTE, 60, 60, 2_500), 10, 10, 60, 11_250, "the discount takes off surcharge and minutes"),
    (Pricing(DOLLAR_A_MINUTE, 60, 60), 10, 100, 60, 0, "a full discount"),
    (Pricing(1, 60, 30), 10, 0, 30, 1, "half a unit rounds up to one"),
    (Pricing(1, 60, 0), 10, 0, 60, 1, "a rate without minimum bills increments from the first second"),
    (Pricing(3, 1, 0), 10, 0, 10, 1, "0.5 unit rounds half up"),
    (Pricing(2, 1, 0), 10, 0, 10, 0, "a third of a unit rounds down"),
    (Pricing(DOLLAR_A_MINUTE, 0, 0), 61, 0, 120, 20_000, "an increment of 0 is KAZOO's default 60"),
    (Pricing(123, 60, 60), 3_600, 0, 3_600, 7_380, "an hour at $0.0123 a minute"),
]


@pytest.mark.parametrize(
    ("pricing", "seconds", "discount", "billed", "units", "why"), CASES, ids=[c[-1] for c in CASES]
)
def test_cost_formula(pricing, seconds, discount, billed, units, why):
    assert billed_seconds(pricing, seconds) == billed, why
    assert call_cost(pricing, seconds, discount) == units, why


def test_a_discount_outside_0_to_100_percent_is_refused():
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        call_cost(Pricing(DOLLAR_A_MINUTE), 60, 101)


@pytest.mark.parametrize(
    ("pricing", "units"),
    [
        (Pricing(DOLLAR_A_MINUTE, 60, 60), 10_000),
        (Pricing(DOLLAR_A_MINUTE, 6, 30, 2_500), 7_500),
        (Pricing(DOLLAR_A_MINUTE, 60, 0, 2_500, 30), 2_500),
        (Pricing(1, 60, 30), 1),
    ],
)
def test_base_cost_is_a_minimum_calls_cost(pricing, units):
    assert base_cost(pricing) == units
