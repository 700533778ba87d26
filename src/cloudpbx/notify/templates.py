"""Notification templates: the platform's defaults (`defaults.py`), the system's stored versions
(`/v2/notifications`) and accounts' overrides (`/v2/accounts/{A}/notifications`), stored as `notification.<id>`
documents in the system partition or the account's.

A notification of an account is rendered from its template merged field by field: the account's own override, then
its reseller's, then the system's, then the default.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from cloudpbx import schemas
from cloudpbx.errors import Invalid, Missing
from cloudpbx.notify import render
from cloudpbx.notify.defaults import DEFAULTS
from cloudpbx.store import SYSTEM, Doc, Store, Tx

TYPE = "notification"
ID = re.compile(r"[a-z0-9_]{1,64}")
BODIES = (("subject", False), ("plain", False), ("html", True))


def doc_id(template_id: str) -> str:
    return f"{TYPE}.{template_id}"


RESERVED = {"smtplog"}  # a path word of the notifications endpoint, never a notification


def check_id(template_id: Any) -> str:
    if not isinstance(template_id, str) or not ID.fullmatch(template_id) or template_id in RESERVED:
        raise Invalid.field("id", "pattern", "A notification id is 1 to 64 of a-z, 0-9 and _", value=template_id)
    return template_id


async def reseller_of(tx: Tx, account_id: str) -> str | None:
    """The closest reseller above the account, else the master; None for the master itself or no account."""
    row = await tx.account_row(account_id)
    if row is None:
        return None
    ancestors = row.path.split("/")[:-1]
    for ancestor in reversed(ancestors):
        found = await tx.account_row(ancestor)
        if found is not None and found.reseller:
            return ancestor
    return ancestors[0] if ancestors else None


async def chain(store: Store, account_id: str) -> list[str]:
    """Where an account's template fields come from, nearest first: the account, its reseller, the system."""
    async with store.read() as tx:
        reseller = await reseller_of(tx, account_id) if account_id != SYSTEM else None
    return [p for p in dict.fromkeys([account_id, reseller, SYSTEM]) if p is not None]


async def known(store: Store) -> list[str]:
    """Every notification id: the defaults and those system admins added."""
    async with store.read() as tx:
        added = [doc["id"] for doc in await tx.list(SYSTEM, TYPE) if isinstance(doc.get("id"), str)]
    return sorted(set(DEFAULTS) | set(added))


async def stored(store: Store, partition: str, template_id: str) -> Doc | None:
    return await store.find(partition, doc_id(template_id))


async def resolve(store: Store, account_id: str, template_id: str) -> Doc | None:
    """The template an account's notification is rendered from (None: no such notification)."""
    layers = [await stored(store, partition, template_id) for partition in reversed(await chain(store, account_id))]
    if template_id not in DEFAULTS and layers[0] is None:
        return None
    merged: Doc = copy.deepcopy(DEFAULTS.get(template_id, {}))
    for layer in layers:
        if layer is not None:
            merged.update({k: v for k, v in layer.items() if not k.startswith(("_", "pvt_"))})
    merged["id"] = template_id
    return merged


def checked(data: Any, template_id: str) -> Doc:
    """A template body as stored: schema-checked, and every text one this platform can render."""
    if not isinstance(data, dict):
        raise Invalid.field("data", "type", "Value did not match type(s): object")
    if data.get("id", template_id) != template_id:
        raise Invalid.field("id", "invalid", "The id in the body differs from the notification's id")
    body, errors = schemas.validate("notifications", {**data, "id": template_id})
    if errors:
        raise Invalid(errors)
    for field, html in BODIES:
        if isinstance(body.get(field), str):
            try:
                render.check(body[field], html)
            except render.RenderError as exc:
                raise Invalid.field(field, "template", str(exc)) from None
    return body


async def save(store: Store, partition: str, template_id: str, data: Any, *, create: bool) -> Doc:
    """Create (`create`) or replace a system template (partition SYSTEM) or an account's override; an account may
    only override a notification the system knows."""
    body = checked(data, check_id(template_id))
    if partition != SYSTEM and template_id not in await known(store):
        raise Missing(template_id)
    async with store.write() as tx:
        old = await tx.find(partition, doc_id(template_id))
        if create and old is not None:
            raise Invalid.field("id", "unique", "The notification is overridden already: POST to change it")
        if not create and old is None and not (partition == SYSTEM and template_id in DEFAULTS):
            raise Missing(template_id)
        doc = {**body, "_id": doc_id(template_id), "pvt_type": TYPE, "pvt_account_id": partition}
        if old is not None:
            doc["_rev"] = old["_rev"]
        return await tx.save(doc)


async def delete(store: Store, partition: str, template_id: str) -> None:
    async with store.write() as tx:
        if await tx.find(partition, doc_id(check_id(template_id))) is None:
            raise Missing(template_id)
        await tx.purge(partition, doc_id(template_id))


def view(template: Doc, overridden: bool) -> Doc:
    """A template as clients see it, `account_overridden` when the account has its own."""
    out = {k: v for k, v in template.items() if not k.startswith(("_", "pvt_"))}
    if overridden:
        out["account_overridden"] = True
    return out


def sample(template: Doc) -> dict[str, Any]:
    """The data a preview renders with: the sample values of the template's macros, nested by their dots."""
    data: dict[str, Any] = {}
    for key, value in (template.get("macros") or {}).items():
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[leaf] = value if not isinstance(value, dict) else value.get("sample", "")
    return data
