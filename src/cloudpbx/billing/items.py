"""KAZOO's service plan item model, priced in integer units: what one category/item of a plan costs a month for a
quantity, and what adding to it costs at once.

An item's fields are dollars in the plan document; they are converted exactly (`ledgers.to_units`). The billable
quantity is the quantity rounded up to `step`, raised to `minimum` and capped at `maximum`. The price is the first
`flat_rates` tier at or above it (a fixed amount), else the first `rates` tier at or above it times the quantity,
else `rate` times the quantity. `discounts.single` takes one unit's discount off, once; `discounts.cumulative`
takes its rate off every unit up to its `maximum`. Tiers are keyed by the largest quantity they cover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudpbx.billing.ledgers import to_units


@dataclass(frozen=True)
class Line:
    """One invoice line in units: `rate` is per unit (or the flat amount when `flat`), `total` after discounts."""

    category: str
    item: str
    name: str
    quantity: int
    billable: int
    rate: int
    flat: bool
    single_discount: int
    cumulative_discount: int
    cumulative_units: int  # units the cumulative discount applies to
    total: int
    activation_charge: int  # per unit added
    prorate_additions: bool
    prorate_removals: bool


def _units(value: Any, path: str) -> int:
    return 0 if value in (None, 0) else to_units(value, path)


def tier(tiers: Any, quantity: int) -> Any:
    """The value of the smallest tier covering `quantity` (tier keys are quantities), or None."""
    if not isinstance(tiers, dict):
        return None
    covering = sorted((int(key), value) for key, value in tiers.items() if str(key).isdigit() and int(key) >= quantity)
    return covering[0][1] if covering else None


def billable(item: dict, quantity: int) -> int:
    """The quantity charged for: rounded up to the step, at least the minimum, at most the maximum."""
    step = max(1, int(item.get("step", 1)))
    charged = -(-quantity // step) * step
    charged = max(charged, int(item.get("minimum", 0)))
    maximum = item.get("maximum")
    return min(charged, int(maximum)) if isinstance(maximum, int) and maximum > 0 else charged


def _discount(rule: Any, quantity: int, path: str) -> int:
    if not isinstance(rule, dict):
        return 0
    rate = tier(rule.get("rates"), quantity)
    return _units(rule.get("rate") if rate is None else rate, path)


def _base(item: dict, charged: int, path: str) -> tuple[int, int, bool]:
    """(rate, subtotal, flat) before discounts: a flat tier or `flat_rate` is one amount, else a rate per unit."""
    flat = tier(item.get("flat_rates"), charged)
    if flat is None and item.get("flat_rate"):
        flat = item["flat_rate"]
    if flat is not None:
        amount = _units(flat, f"{path}.flat_rates")
        return amount, amount if charged else 0, True
    tiered = tier(item.get("rates"), charged)
    rate = _units(item.get("rate") if tiered is None else tiered, f"{path}.rate")
    return rate, rate * charged, False


def _discounts(item: dict, charged: int, subtotal: int, path: str) -> tuple[int, int, int]:
    """(single, cumulative, units the cumulative one covers), never more in all than the subtotal."""
    discounts: dict = item["discounts"] if isinstance(item.get("discounts"), dict) else {}
    single = _discount(discounts.get("single"), charged, f"{path}.discounts.single") if charged else 0
    rule = discounts.get("cumulative")
    per_unit = _discount(rule, charged, f"{path}.discounts.cumulative")
    limit = rule.get("maximum") if isinstance(rule, dict) else None
    units = min(charged, limit) if isinstance(limit, int) and limit > 0 else charged
    single = min(single, subtotal)
    return single, min(per_unit * units, subtotal - single), units if per_unit else 0


def price(category: str, name: str, item: dict, quantity: int) -> Line:
    """The month's line for `quantity` of the item."""
    path = f"plan.{category}.{name}"
    charged = billable(item, quantity)
    rate, subtotal, flat = _base(item, charged, path)
    single, cumulative, units = _discounts(item, charged, subtotal, path)
    prorate: dict = item["prorate"] if isinstance(item.get("prorate"), dict) else {}
    return Line(
        category,
        name,
        str(item.get("name") or name),
        quantity,
        charged,
        rate,
        flat,
        single,
        cumulative,
        units,
        subtotal - single - cumulative,
        _units(item.get("activation_charge"), f"{path}.activation_charge"),
        prorate.get("additions", True) is not False,
        prorate.get("removals") is True,
    )
