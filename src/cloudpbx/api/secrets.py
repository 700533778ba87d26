"""Secrets inside an account that only its admins, and the owner of the document, may read.

A user-level login reads its account's documents (Monster UI lists them), but not the SIP password of a phone it
does not own, nor another user's voicemail or hotdesk PIN: with them it could register as that phone or listen to
that mailbox. Filters on these fields are refused too, or a listing would confirm guesses of them.
"""

from __future__ import annotations

from typing import Any

from cloudpbx.api.context import Context
from cloudpbx.errors import Forbidden

ANY = "*"  # in a secret's path: every item of a list

SECRETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "devices": (("sip", "password"),),
    "vmboxes": (("pin",),),
    "users": (("hotdesk", "pin"),),
    "conferences": (("member", "pins"), ("moderator", "pins")),
    "resources": (("gateways", ANY, "password"),),  # a carrier has no owner: only admins read its passwords
}
FILTER_KEYS = ("filter_not_", "filter_")
PATH_KEYS = ("has_key", "key_missing", "has_value", "value_missing")


def sees_all(ctx: Context) -> bool:
    return ctx.caller is None or ctx.caller.is_admin or ctx.caller.superduper


def refuse_secret_filters(ctx: Context, noun: str) -> None:
    """A user-level listing may not filter on a secret field."""
    paths = SECRETS.get(noun, ())
    if not paths or sees_all(ctx):
        return
    for key, raw in ctx.query.multi_items():
        field = (
            key.removeprefix("filter_not_").removeprefix("filter_")
            if key.startswith(FILTER_KEYS)
            else raw
            if key in PATH_KEYS
            else None
        )
        if field is not None and any(_overlaps(field.split("."), path) for path in paths):
            raise Forbidden({"message": f"only an account administrator can filter on {field}"})


def _overlaps(parts: list[str], path: tuple[str, ...]) -> bool:
    """Whether a dotted field is a secret, inside one, or holds one (`ANY` stands for any list index)."""
    return all(want in (ANY, part) for part, want in zip(parts, path, strict=False))


def hide(ctx: Context, noun: str, data: Any) -> Any:
    """The reply's document or rows without the secrets of documents the caller does not own."""
    paths = SECRETS.get(noun)
    if not paths or sees_all(ctx):
        return data
    if isinstance(data, list):
        return [_without(ctx, noun, row, paths) if isinstance(row, dict) else row for row in data]
    return _without(ctx, noun, data, paths) if isinstance(data, dict) else data


def _owned(ctx: Context, noun: str, doc: dict) -> bool:
    owner = doc.get("id") if noun == "users" else doc.get("owner_id")
    return owner is not None and owner == ctx.who.owner_id


def _without(ctx: Context, noun: str, doc: dict, paths: tuple[tuple[str, ...], ...]) -> dict:
    if _owned(ctx, noun, doc) or not any(_has(doc, path) for path in paths):
        return doc
    doc = dict(doc)  # views are shared by every reader of a revision: copy what is changed
    for path in paths:
        _drop(doc, path)
    return doc


def _drop(node: dict, path: tuple[str, ...]) -> None:
    """Remove the leaf of `path` from `node`, copying each container on the way (the caller copied `node`)."""
    head, rest = path[0], path[1:]
    if not rest:
        node.pop(head, None)
        return
    child = node.get(head)
    if rest[0] == ANY and isinstance(child, list):
        node[head] = [dict(item) if isinstance(item, dict) else item for item in child]
        for item in node[head]:
            if isinstance(item, dict) and rest[1:]:
                _drop(item, rest[1:])
    elif isinstance(child, dict):
        node[head] = dict(child)
        _drop(node[head], rest)


def _has(node: Any, path: tuple[str, ...]) -> bool:
    if not path:
        return True
    head, rest = path[0], path[1:]
    if head == ANY:
        return isinstance(node, list) and any(_has(item, rest) for item in node)
    return isinstance(node, dict) and head in node and _has(node[head], rest)
