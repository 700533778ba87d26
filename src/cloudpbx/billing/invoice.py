"""An account's invoice: its assigned plans merged (KAZOO's merge strategies and priorities, then overrides) and
priced against its quantities, all in integer units."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cloudpbx.accounts.documents import merge_patch
from cloudpbx.billing.items import Line, price

Quantities = dict[str, dict[str, int]]  # category -> item -> count
ALL = "_all"


@dataclass(frozen=True)
class Assigned:
    """A plan as an account holds it: the plan document and the overrides given with the assignment."""

    plan: dict
    overrides: dict


def merged(assigned: Iterable[Assigned], overrides: dict | None = None) -> dict:
    """One `plan` object from several: lower `merge.priority` first, each by its own strategy (`simple` replaces an
    item whole, `recursive` merges its fields, `cumulative` adds its rates and activation charge), then the
    account's overrides on top."""
    out: dict[str, dict[str, Any]] = {}
    ordered = sorted(assigned, key=lambda a: int(a.plan.get("merge", {}).get("priority", 0)))
    for one in ordered:
        strategy = one.plan.get("merge", {}).get("strategy", "simple")
        plan = merge_patch(one.plan.get("plan", {}), one.overrides or {})
        for category, items in plan.items():
            target = out.setdefault(category, {})
            for name, item in items.items():
                target[name] = _combine(target.get(name), item, strategy)
    return merge_patch(out, overrides) if overrides else out


def _combine(old: dict | None, new: dict, strategy: str) -> dict:
    if old is None or strategy == "simple":
        return copy.deepcopy(new)
    combined = merge_patch(old, new)
    if strategy == "cumulative":
        for field in ("rate", "activation_charge"):
            if field in old and field in new:
                combined[field] = old[field] + new[field]
    return combined


def quantity(items: dict[str, int], name: str, item: dict) -> int:
    """An item's quantity; `_all` counts every item of the category but its exceptions."""
    if name != ALL:
        return items.get(name, 0)
    skipped = set(item.get("exceptions", []))
    return sum(count for key, count in items.items() if key not in skipped)


def lines(plan: dict, own: Quantities, cascade: Quantities) -> list[Line]:
    """The invoice lines: every item with a quantity or a billable minimum, in category and item order."""
    out = []
    for category in sorted(plan):
        for name in sorted(plan[category]):
            item = plan[category][name]
            counts = (cascade if item.get("cascade") else own).get(category, {})
            label = str(item.get("as") or name) if name == ALL else name
            line = price(category, label, item, quantity(counts, name, item))
            if line.quantity or line.billable:
                out.append(line)
    return out


def recurring(found: Iterable[Line]) -> int:
    return sum(line.total for line in found)


def plus(quantities: Quantities, additions: dict[tuple[str, str], int]) -> Quantities:
    """Quantities with some changed (a change the 402 handshake prices before it is made)."""
    out = {category: dict(items) for category, items in quantities.items()}
    for (category, item), delta in additions.items():
        items = out.setdefault(category, {})
        items[item] = max(0, items.get(item, 0) + delta)
    return out


@dataclass(frozen=True)
class Charge:
    """What a change adds: the line after it, its activation charges and the month's recurring increase."""

    line: Line
    activation: int
    recurring: int
    added: int


def charges(before: list[Line], after: list[Line]) -> list[Charge]:
    """The lines a change makes dearer, at once (activation) or monthly."""
    old = {(line.category, line.item): line for line in before}
    out = []
    for line in after:
        previous = old.get((line.category, line.item))
        added = line.quantity - (previous.quantity if previous else 0)
        activation = max(0, added) * line.activation_charge
        increase = line.total - (previous.total if previous else 0)
        if activation > 0 or increase > 0:
            out.append(Charge(line, activation, max(0, increase), max(0, added)))
    return out
