"""Secrets inside an account that only its admins, and the owner of the document, may read.

A user-level login reads its account's documents (Monster UI lists them), but not the SIP password of a phone it
does not own, nor another user's voicemail or hotdesk PIN: with them it could register as that phone or listen to
that mailbox. Filters on these fields are refused too, or a listing would confirm guesses of them.
"""

from __future__ import annotations

from typing import Any

from cloudpbx.api.context import Context
from cloudpbx.errors import Forbidden

SECRETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "devices": (("sip", "password"),),
    "vmboxes": (("pin",),),
    "users": (("hotdesk", "pin"),),
    "conferences": (("member", "pins"), ("moderator", "pins")),
}
FILTER_KEYS = ("filter_not_", "filter_")
PATH_KEYS = ("has_key", "key_missing", "has_value", "value_missing")


def sees_all(ctx: Context) -> bool:
    return ctx.caller is None or ctx.caller.is_admin or ctx.caller.superduper


def refuse_secret_filters(ctx: Context, noun: str) -> None:
    """A user-level listing may not filter on a secret field."""
    paths = {".".join(path) for path in SECRETS.get(noun, ())}
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
        if field is not None and any(
            field == p or field.startswith(p + ".") or p.startswith(field + ".") for p in paths
        ):
            raise Forbidden({"message": f"only an account administrator can filter on {field}"})


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
    doc = _copied(doc, paths)
    for *parents, leaf in paths:
        node: dict | None = doc
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return doc


def _has(doc: dict, path: tuple[str, ...]) -> bool:
    node: Any = doc
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _copied(doc: dict, paths: tuple[tuple[str, ...], ...]) -> dict:
    """A copy deep enough to drop the secrets: views are shared by every reader of a revision."""
    doc = dict(doc)
    for path in paths:
        node = doc
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                break
            node[part] = dict(node[part])
            node = node[part]
    return doc
