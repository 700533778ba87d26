"""Shaping a number: the dial plans of the caller (device, user, account) and the E.164 converters before a
decision, and the Request-URI of each gateway after it (prefix/suffix and KAZOO's `invite_format`s)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from cloudpbx import regex
from cloudpbx.numbers.classifiers import normalize
from cloudpbx.routing.carriers import DEFAULT_PORT, Gateway

_NPAN = re.compile(r"^(\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})$")


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


def to_npan(number: str) -> str:
    match = _NPAN.match(number)
    return match.group(2) if match else number


def to_1npan(number: str) -> str:
    match = _NPAN.match(number)
    return f"1{match.group(2)}" if match else number


def user_part(gateway: Gateway, matched: str) -> str:
    """The user part of the Request-URI: `route` (the default) is prefix + matched number + suffix; the other
    formats replace it with the matched number in that shape, as KAZOO's media layer does."""
    fmt = gateway.invite_format
    if fmt == "e164":
        return normalize(matched)
    if fmt == "npan":
        return to_npan(matched)
    if fmt == "1npan":
        return to_1npan(matched)
    if fmt == "strip_plus":
        return normalize(matched).removeprefix("+")
    if fmt == "username" and gateway.username:
        return gateway.username
    return f"{gateway.prefix}{matched}{gateway.suffix}"


def dial_string(gateway: Gateway, matched: str) -> str:
    """`sip:{user}@{server}[:port]` (the port only when not 5060), or the gateway's fixed `route`."""
    if gateway.route:
        return gateway.route
    port = f":{gateway.port}" if gateway.port != DEFAULT_PORT else ""
    return f"sip:{user_part(gateway, matched)}@{gateway.server}{port}"
