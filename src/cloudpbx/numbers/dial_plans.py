"""The caller's dial plans (device, user, account `dial_plan`): how a number dialled the caller's way becomes the
number the platform classifies and routes, e.g. seven digits completed with the area code, or a leading 9 dropped.

Restrictions classify the number after them (as KAZOO's `cf_route_win` does) and route decisions route it, so both
see the same number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cloudpbx import regex
from cloudpbx.store import Doc


def apply_dial_plan(number: str, plans: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    """The number after the first dial plan rule that matches it (nearest plan first, each plan in its order),
    and that rule's pattern; KAZOO keeps the last capture (the whole match without groups) between the rule's
    prefix and suffix."""
    seen: set[str] = set()
    for plan in plans:
        for pattern, rule in plan.items():
            if pattern in seen or not isinstance(rule, Mapping):
                continue
            seen.add(pattern)
            try:
                match = regex.cached(pattern).search(number)
            except regex.PatternError:
                continue
            if match is not None:
                groups = match.groups()
                root = (groups[-1] or "") if groups else match.group(0)
                return f"{_text(rule, 'prefix')}{root}{_text(rule, 'suffix')}", pattern
    return number, None


def _text(rule: Mapping[str, Any], key: str) -> str:
    value = rule.get(key)
    return value if isinstance(value, str) else ""


def plans_of(*docs: Doc | None) -> list[Mapping[str, Any]]:
    """The `dial_plan` of each document that has one, in the order given (nearest first)."""
    return [doc["dial_plan"] for doc in docs if doc and isinstance(doc.get("dial_plan"), Mapping)]
