"""Shaping a number after a decision: the Request-URI of each gateway (prefix/suffix and KAZOO's `invite_format`s).
The caller's dial plans, before it, are `numbers.dial_plans`."""

from __future__ import annotations

import re

from cloudpbx.numbers.classifiers import normalize
from cloudpbx.routing.carriers import DEFAULT_PORT, Gateway

_NPAN = re.compile(r"^(\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})$")


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


REDACTED = "redacted"


def redacted_dial_string(gateway: Gateway, matched: str) -> str:
    """The dial string as shown to those who may not see the platform's carrier settings: the number sent without
    the host; a fixed `route` or a `username` user part is the settings themselves, so nothing of it is left."""
    if gateway.route or (gateway.invite_format == "username" and gateway.username):
        return f"sip:{REDACTED}"
    return f"sip:{user_part(gateway, matched)}@{REDACTED}"
