"""Listings: Crossbar's filters on dotted keys, paging with start keys, and CSV."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from cloudpbx.api.context import Context, Reply
from cloudpbx.errors import Invalid
from cloudpbx.store import Doc, gregorian_now

FILTER_PREFIXES = ("filter_not_", "filter_")
PRESENCE = ("has_key", "key_missing", "has_value", "value_missing")
LAST_SECOND = 315569519999  # 9999-12-31T23:59:59Z in Gregorian seconds: the last second a date can spell
RANGES = {
    "created_from": ("pvt_created", 1),
    "created_to": ("pvt_created", -1),
    "modified_from": ("pvt_modified", 1),
    "modified_to": ("pvt_modified", -1),
}


def _get(doc: Any, dotted: str) -> tuple[bool, Any]:
    node = doc
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _parse(raw: str) -> Any:
    """A filter value as JSON when it is JSON (orjson: no recursion, whatever the nesting), else as text."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def _text(value: Any) -> str | None:
    """A scalar as KAZOO's filters compare it: as text, with booleans spelled true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (str, int, float)) else None


def _same(value: Any, choice: Any) -> bool:
    text = _text(value)
    if text is None:
        return value == choice
    numeric = not isinstance(value, bool) and not isinstance(choice, bool)
    return text == _text(choice) or (numeric and value == choice)


def _equal(value: Any, raw: str) -> bool:
    """The stored value equals the query value (as JSON or text), is one of a JSON list given, or contains it."""
    wanted = _parse(raw)
    if isinstance(value, (list, dict)) and value == wanted:
        return True
    choices = wanted if isinstance(wanted, list) else [wanted]
    members = value if isinstance(value, list) else [value]
    return any(_same(member, choice) for member in members for choice in choices)


def _non_empty(value: Any) -> bool:
    return value not in (None, "", [], {})


def predicates(ctx: Context) -> list[Callable[[Doc], bool]]:
    """One predicate per filter in the query string; all of them must hold."""
    preds = (_predicate(key, raw) for key, raw in ctx.query.multi_items())
    return [pred for pred in preds if pred is not None]


def _predicate(key: str, raw: str) -> Callable[[Doc], bool] | None:
    """The test one query-string pair makes of a document; None for a key that is not a filter."""
    if key.startswith("filter_not_"):
        path = key[len("filter_not_") :]
        return lambda d: not (_get(d, path)[0] and _equal(_get(d, path)[1], raw))
    if key.startswith("filter_"):
        path = key[len("filter_") :]
        return lambda d: _get(d, path)[0] and _equal(_get(d, path)[1], raw)
    if key == "has_key":
        return lambda d: _get(d, raw)[0]
    if key == "key_missing":
        return lambda d: not _get(d, raw)[0]
    if key == "has_value":
        return lambda d: _non_empty(_get(d, raw)[1])
    if key == "value_missing":
        return lambda d: not _non_empty(_get(d, raw)[1])
    if key in RANGES:
        field, sign = RANGES[key]
        bound = integer(key, raw, 0, LAST_SECOND)
        return lambda d: sign * (d.get(field, 0) - bound) >= 0
    return None


def integer(key: str, raw: str, minimum: int, maximum: int) -> int:
    """A whole number from the query string, ASCII digits only, within [minimum, maximum]; else Crossbar's
    validation error (which quotes the text, so no error carries a number larger than JSON readers take)."""
    text = raw.strip()
    digits = text[1:] if text[:1] == "-" else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 16:
        raise Invalid.field(key, "type", "Value did not match type(s): integer", value=raw)
    value = int(text)
    if value < minimum:
        raise Invalid.field(key, "minimum", f"Value must be at least {minimum}", value=raw)
    if value > maximum:
        raise Invalid.field(key, "maximum", f"Value must be at most {maximum}", value=raw)
    return value


def _seconds(ctx: Context, key: str, default: int) -> int:
    raw = ctx.query.get(key)
    return default if raw is None else integer(key, raw, 0, LAST_SECOND)


def time_range(ctx: Context, max_range: int, key: str = "created") -> tuple[int, int]:
    """A ranged listing's (from, to) in Gregorian seconds: `to` defaults to now and `from` to `max_range` before it;
    a reversed or longer range is a `date_range` error on `{key}_from`, as `crossbar_view:time_range` gives."""
    to = _seconds(ctx, f"{key}_to", gregorian_now())
    since = _seconds(ctx, f"{key}_from", to - max_range)
    if to < since:
        raise Invalid.field(f"{key}_from", "date_range", f"{key}_to {to} is prior to {key}_from {since}", cause=since)
    if to - since > max_range:
        raise Invalid.field(
            f"{key}_from",
            "date_range",
            f"{key}_to {to} is more than {max_range} seconds from {key}_from {since}",
            cause=to,
        )
    return since, to


def page_size(ctx: Context) -> int | None:
    """None when paging is off (`paginate=false`)."""
    if ctx.query.get("paginate", "").lower() == "false":
        return None
    raw = ctx.query.get("page_size")
    if raw is None:
        return ctx.platform.settings.page_size
    return integer("page_size", raw, 1, 2**31 - 1)


Loader = Callable[[str | None, int | None], Awaitable[list[Doc]]]


async def respond(ctx: Context, load: Loader, row: Callable[[Doc], Doc]) -> Reply:
    """Filter, page and shape documents. Without filters the store pages; with filters we scan in id order."""
    preds = predicates(ctx)
    size = page_size(ctx)
    start = ctx.query.get("start_key")
    if preds:
        docs = [d for d in await load(start, None) if all(p(d) for p in preds)]
    else:
        docs = await load(start, size + 1 if size else None)
    paging: dict[str, Any] = {}
    if size is not None:
        if len(docs) > size:
            paging["next_start_key"] = docs[size]["_id"]
            docs = docs[:size]
        if start:
            paging["start_key"] = start
    rows = [row(d) for d in docs]
    paging["page_size"] = len(rows)
    return Reply(rows, paging=paging)
