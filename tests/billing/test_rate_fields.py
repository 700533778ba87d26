"""A rate's fields as JSON values and CSV cells: amounts in whole units, prefixes, directions; and the rating index's
order among rates of one prefix (own direction, then weight, then id)."""

from __future__ import annotations

import pytest

from cloudpbx.billing.rates import Rate, checked
from cloudpbx.billing.rating import DeckIndex

AMOUNTS = [
    ("0.0125", 125),
    (" 0.5 ", 5_000),
    (".5", 5_000),
    (0.0125, 125),
    (1e-4, 1),
    (3, 30_000),
    ("100000", 1_000_000_000),
    ("0.00001", "precision"),
    ("1_000", "type"),
    ("1e5", "type"),
    ("NaN", "type"),
    ("-1", "type"),
    (-1, "range"),
    (100_000.0001, "range"),
    (float("nan"), "range"),
    (True, "type"),
    ([], "type"),
]


@pytest.mark.parametrize(("value", "expected"), AMOUNTS, ids=[repr(a[0]) for a in AMOUNTS])
def test_rate_cost_is_kept_in_whole_units(value, expected):
    values, errors = checked({"prefix": "1", "rate_cost": value})
    if isinstance(expected, int):
        assert values["rate_cost"] == expected and not errors
    else:
        assert list(errors["rate_cost"]) == [expected]


@pytest.mark.parametrize(
    ("prefix", "expected"), [("+44", "44"), (4420, "4420"), ("44a", None), ("", None), ("1" * 21, None), (-1, None)]
)
def test_prefixes_are_digits(prefix, expected):
    values, errors = checked({"prefix": prefix, "rate_cost": 1})
    assert (values.get("prefix"), bool(errors)) == (expected, expected is None)


@pytest.mark.parametrize(
    ("direction", "expected"),
    [("Outbound", "outbound"), (["inbound"], "inbound"), (["inbound", "outbound"], "both"), ("up", None), ([], None)],
)
def test_directions(direction, expected):
    values, errors = checked({"prefix": "1", "rate_cost": 1, "direction": direction})
    assert values.get("direction") == expected and bool(errors) == (expected is None)


def rate(rate_id: str, prefix: str, direction: str, weight: int) -> Rate:
    return Rate(rate_id, "d", prefix, direction, "", "", rate_id, 1, 60, 60, 0, 0, weight)


def test_the_index_prefers_the_longest_prefix_then_the_calls_direction_then_weight_then_id():
    index = DeckIndex.of(
        [
            rate("b-both-light", "1415", "both", 1),
            rate("c-out-heavy", "1415", "outbound", 90),
            rate("a-out-heavy", "1415", "outbound", 90),
            rate("d-in", "14155", "inbound", 50),
            rate("e-short", "1", "both", 1),
        ]
    )
    assert index.lookup("14155550100", "outbound").id == "a-out-heavy"
    assert index.lookup("14155550100", "inbound").id == "d-in"
    assert index.lookup("14150000000", "inbound").id == "b-both-light"
    assert index.lookup("12125550100", "inbound").id == "e-short"
    assert index.lookup("44", "outbound") is None
    assert (index.longest, index.size) == (5, 5)
