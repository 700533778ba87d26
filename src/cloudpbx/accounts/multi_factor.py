"""Multi factor provider configurations: an account's own (`provider` documents in the account) and the system's
(in the system partition, set by system administrators), and the multi factor login attempts kept per account."""

from __future__ import annotations

from typing import Any

from cloudpbx import schemas
from cloudpbx.accounts.documents import client_fields, merge_patch, public
from cloudpbx.errors import Conflicting, Invalid, Missing
from cloudpbx.store import SYSTEM, Conflict, Doc, Store
from cloudpbx.store.ids import new_id

TYPE = "provider"
PROVIDER_TYPE = "multi_factor"
ATTEMPT_TYPE = "login_attempt"
SUMMARY = ("id", "enabled", "name", "provider_name", "provider_type")


def summary(doc: Doc) -> dict:
    view = {**public(doc), "provider_type": PROVIDER_TYPE}
    return {k: view[k] for k in SUMMARY if k in view}


def _checked(data: Any) -> dict:
    filled, errors = schemas.validate("multi_factor_provider", client_fields(data))
    if errors:
        raise Invalid(errors)
    return filled


async def listing(store: Store, partition: str) -> list[dict]:
    async with store.read() as tx:
        return [summary(doc) for doc in await tx.list(partition, TYPE)]


async def get(store: Store, partition: str, config_id: str) -> Doc:
    async with store.read() as tx:
        doc = await tx.find(partition, config_id)
    if doc is None or doc.get("pvt_type") != TYPE:
        raise Missing(config_id)
    return doc


async def create(store: Store, partition: str, data: Any) -> Doc:
    doc = {
        **_checked(data),
        "_id": new_id(),
        "pvt_type": TYPE,
        "pvt_account_id": partition,
        "pvt_provider_type": PROVIDER_TYPE,
    }
    async with store.write() as tx:
        return await tx.save(doc)


async def change(store: Store, partition: str, config_id: str, data: Any, patch: bool) -> Doc:
    """Replace (POST) or merge into (PATCH) a configuration, validated whole, in one transaction."""
    async with store.write() as tx:
        old = await tx.find(partition, config_id)
        if old is None or old.get("pvt_type") != TYPE:
            raise Missing(config_id)
        body = merge_patch(client_fields(old), client_fields(data)) if patch else data
        doc = {**_checked(body), **{k: v for k, v in old.items() if k.startswith(("_", "pvt_"))}}
        try:
            return await tx.save(doc)
        except Conflict as exc:
            raise Conflicting() from exc


async def delete(store: Store, partition: str, config_id: str) -> Doc:
    async with store.write() as tx:
        old = await tx.find(partition, config_id)
        if old is None or old.get("pvt_type") != TYPE:
            raise Missing(config_id)
        await tx.purge(partition, config_id)
    return old


async def attempts(store: Store, account_id: str) -> list[dict]:
    """The account's multi factor login attempts, newest first."""
    async with store.read() as tx:
        found = [
            public(doc) for doc in await tx.list(account_id, ATTEMPT_TYPE) if doc.get("auth_type") == PROVIDER_TYPE
        ]
    return sorted(found, key=lambda doc: doc.get("timestamp", 0), reverse=True)


async def attempt(store: Store, account_id: str, attempt_id: str) -> dict:
    async with store.read() as tx:
        doc = await tx.find(account_id, attempt_id)
    if doc is None or doc.get("pvt_type") != ATTEMPT_TYPE or doc.get("auth_type") != PROVIDER_TYPE:
        raise Missing(attempt_id)
    return public(doc)


async def metadata(store: Store, account_id: str | None, config_id: str | None) -> dict | None:
    """`name` and `provider_name` of the configuration a login method points at (account's or system's)."""
    if not config_id:
        return None
    try:
        doc = await get(store, account_id or SYSTEM, config_id)
    except Missing:
        return None
    return {"name": doc.get("name"), "provider_name": doc.get("provider_name")}
