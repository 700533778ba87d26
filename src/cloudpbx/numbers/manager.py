"""The number manager: adding numbers, taking them from the pool, reserving, moving, releasing and configuring them.

Every operation is one transaction. Who may do what:
- an account sees and changes only the numbers it holds; a number held by anyone else is 404, as if missing;
- numbers in the pool (unassigned and `available`) may be taken by any account;
- numbers that are not in the pool may be added only by superduper callers or by callers whose account is
  allowed number additions (`pvt_wnm_allow_additions`);
- a number moves only between accounts in the caller's tree, and not while a callflow uses it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from cloudpbx import schemas
from cloudpbx.accounts.documents import merge_patch
from cloudpbx.errors import Conflicting, Failure, Forbidden, Invalid, Missing
from cloudpbx.numbers import failures, features, registry
from cloudpbx.store import SYSTEM, Conflict, Doc, Store, Tx, UniqueViolation, keys

ADDITION_STATES = ("in_service", "reserved", "port_in")
SUPERDUPER_STATES = ("available", "aging", "in_service", "port_in", "reserved")
RELEASE_STATES = ("available", "released", "aging", "deleted")
IDENTIFIABLE = ("in_service", "port_in", "port_out", "reserved")
READ_ONLY = ("id", "state", "used_by", "features", "features_available", "assigned_to", "created", "updated")


@dataclass(frozen=True)
class Actor:
    """Who asks: the caller's account, and whether it is a superduper (system) account."""

    account_id: str
    superduper: bool


class ClientError(Failure):
    """400 `client error`: the number exists but cannot be used as asked (identify of a number out of service)."""

    code = 400
    message = "client error"


def settings(data: Any) -> Doc:
    """The client's fields for a number: private, identity and computed fields are dropped."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Invalid.field("data", "type", "Value did not match type(s): object", target="object")
    return {k: v for k, v in data.items() if not k.startswith(("_", "pvt_")) and k not in READ_ONLY}


def checked(number: str, fields: Doc) -> Doc:
    """Schema and feature rules together, so a client sees every problem in one reply."""
    filled, errors = schemas.validate("phone_numbers", fields)
    try:
        features.check(number, filled)
    except Invalid as invalid:
        for path, rules in invalid.data.items():
            errors.setdefault(path, {}).update(rules)
    if errors:
        raise Invalid(errors)
    return filled


def _private(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if k.startswith(("_", "pvt_"))}


class Numbers:
    """The number operations the API (and later maintenance commands) offer, each checked and transactional."""

    def __init__(self, store: Store):
        self.store = store

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[Tx]:
        """A write transaction; losing a race with another writer of the same number is a 409."""
        try:
            async with self.store.write() as tx:
                yield tx
        except Conflict as exc:
            raise Conflicting({"message": "the number was changed by another request", "cause": str(exc)}) from exc

    # Reading ------------------------------------------------------------------------------------------------------

    async def holdings(self, account_id: str) -> tuple[list[Doc], int]:
        """The account's numbers, and how many numbers its descendants hold (the cascade quantity)."""
        async with self.store.read() as tx:
            docs = await registry.listing(tx, account_id)
            row = await tx.account_row(account_id)
            cascade = await tx.count_keys_below(keys.NUMBER, row.path) if row else 0
        return docs, cascade

    async def emergency_enabled(self, account_id: str) -> list[Doc]:
        """The account's numbers with an E911 address, in number order (KAZOO's `emergency_enabled`): the ones an
        emergency call may present."""
        async with self.store.read() as tx:
            return [doc for doc in await registry.listing(tx, account_id) if "e911" in features.active(doc)]

    async def get(self, account_id: str, number: str) -> Doc:
        number = registry.e164(number)
        async with self.store.read() as tx:
            return await registry.owned(tx, account_id, number)

    async def inspect(self, number: str) -> Doc:
        """Any number, whoever holds it (for superduper callers)."""
        number = registry.e164(number)
        async with self.store.read() as tx:
            doc = await registry.find(tx, number)
        if doc is None:
            raise failures.not_found(number)
        return doc

    async def holder(self, e164: str) -> Doc | None:
        """A number's document whoever holds it, None when the platform has none (call routing asks: on-net?);
        a point read, as every call to a carrier asks."""
        return await self.store.find(SYSTEM, e164)

    async def search(self, prefix: str, quantity: int, offset: int) -> list[str]:
        """Pool numbers starting with an E.164 prefix, in number order."""
        async with self.store.read() as tx:
            return await tx.keys_with_prefix(keys.NUMBER_POOL, prefix, offset=offset, limit=quantity)

    async def identify(self, actor: Actor, number: str) -> Doc:
        """Which account holds a number, for callers whose tree contains that account."""
        number = registry.e164(number)
        async with self.store.read() as tx:
            doc = await registry.find(tx, number)
            holder = doc.get("pvt_assigned_to") if doc else None
            row = await tx.account_row(holder) if holder else None
            if doc is None or row is None or not _reaches(actor, row):
                raise failures.not_found(number)
        if doc.get("pvt_state") not in IDENTIFIABLE:
            raise ClientError({"cause": "not_in_service", "account_id": holder, "number": number})
        if not row.enabled:
            raise ClientError({"cause": "account_disabled", "account_id": holder, "number": number})
        return {"account_id": holder, "number": number}

    async def creation_states(self, actor: Actor) -> list[str]:
        """The states the caller may create numbers in (none without the right to add numbers)."""
        async with self.store.read() as tx:
            if actor.superduper:
                return list(SUPERDUPER_STATES)
            return list(ADDITION_STATES) if await _may_add(tx, actor) else []

    # Writing ------------------------------------------------------------------------------------------------------

    async def add(self, actor: Actor, account_id: str | None, number: str, data: Any) -> Doc:
        """Add a number to an account (or to the pool, as `available` with no account)."""
        number = registry.e164(number)
        fields = settings(data)
        state = fields.pop("create_with_state", None) or ("in_service" if account_id else "available")
        fields = checked(number, fields)
        holder = None if state == "available" else account_id
        if holder is None and state != "available":
            raise Invalid.field(
                "create_with_state", "enum", "Numbers outside an account can only be available", value=state
            )
        async with self._writing() as tx:
            old = await registry.find(tx, number)
            if old is not None and (old.get("pvt_assigned_to") or (registry.is_pooled(old) and state == "available")):
                raise failures.exists(number)
            await self._check_addition(tx, actor, number, state, pooled=old is not None and registry.is_pooled(old))
            doc = dict(
                fields,
                _id=number,
                pvt_type="number",
                pvt_account_id=SYSTEM,
                pvt_state=state,
                pvt_assigned_to=holder,
                pvt_used_by="",
                pvt_module_name="local",
            )
            if old is not None:
                doc.update(_rev=old["_rev"], pvt_created=old["pvt_created"])
            try:
                return await registry.save(tx, doc)
            except (Conflict, UniqueViolation) as exc:
                raise failures.exists(number) from exc

    async def _check_addition(self, tx: Tx, actor: Actor, number: str, state: str, pooled: bool) -> None:
        """Pool numbers are for everyone; other numbers need a superduper or an account allowed additions."""
        allowed = SUPERDUPER_STATES if actor.superduper else ADDITION_STATES
        if state not in allowed:
            raise failures.not_allowed(number, f"creating numbers in state '{state}' is not allowed")
        if not pooled and not actor.superduper and not await _may_add(tx, actor):
            raise failures.not_allowed(number, "this account is not allowed to add numbers that are not in the pool")

    async def update(self, account_id: str, number: str, data: Any, *, patch: bool) -> Doc:
        """Replace (POST) or merge (PATCH) the number's public fields, which configure its features."""
        number = registry.e164(number)
        changes = settings(data)
        changes.pop("create_with_state", None)
        async with self._writing() as tx:
            old = await registry.owned(tx, account_id, number)
            current = {k: v for k, v in old.items() if not k.startswith(("_", "pvt_"))}
            fields = checked(number, merge_patch(current, changes) if patch else changes)
            return await registry.save(tx, dict(fields, **_private(old)))

    async def release(self, actor: Actor, account_id: str, number: str, *, hard: bool, released_state: str) -> Doc:
        """Give a number up: back to the pool by default; `hard` (superduper only) removes it from the system."""
        number = registry.e164(number)
        state = released_state if released_state in RELEASE_STATES else "available"
        if hard and actor.superduper:
            state = "deleted"
        async with self._writing() as tx:
            return await registry.release(tx, await registry.owned(tx, account_id, number), state)

    async def purge(self, number: str) -> Doc:
        """Remove a number from the system, wherever it is (superduper maintenance of the pool)."""
        number = registry.e164(number)
        async with self._writing() as tx:
            doc = await registry.find(tx, number)
            if doc is None:
                raise failures.not_found(number)
            return await registry.release(tx, doc, "deleted")

    async def activate(self, actor: Actor, account_id: str, number: str, data: Any) -> Doc:
        """Put a number in service in the account: from the pool, from reserved, or moved in from another account
        of the caller's tree (how Monster UI moves numbers)."""
        number = registry.e164(number)
        changes = settings(data)
        changes.pop("create_with_state", None)
        async with self._writing() as tx:
            doc = await registry.find(tx, number)
            holder = doc.get("pvt_assigned_to") if doc else None
            if doc is None or (holder is None and not registry.is_pooled(doc)):
                raise failures.not_found(number)
            if holder not in (None, account_id):
                await _check_movable(tx, actor, doc)
            elif holder == account_id and doc["pvt_state"] not in ("reserved", "in_service", "port_in"):
                raise failures.bad_transition(number, doc["pvt_state"], "in_service")
            if changes:
                current = {k: v for k, v in doc.items() if not k.startswith(("_", "pvt_"))}
                doc = dict(checked(number, merge_patch(current, changes)), **_private(doc))
            if doc["pvt_state"] != "port_in" or holder != account_id:
                doc["pvt_state"] = "in_service"
            doc["pvt_assigned_to"] = account_id
            return await registry.save(tx, doc)

    async def reserve(self, actor: Actor, account_id: str, number: str) -> Doc:
        """Hold a pool number for the account without putting it in service."""
        number = registry.e164(number)
        async with self._writing() as tx:
            doc = await registry.find(tx, number)
            holder = doc.get("pvt_assigned_to") if doc else None
            if doc is not None and holder == account_id:
                if doc["pvt_state"] == "reserved":
                    raise failures.no_change(number)
                raise failures.bad_transition(number, doc["pvt_state"], "reserved")
            if doc is None or not registry.is_pooled(doc):
                if holder and await _reaches_id(tx, actor, holder):
                    raise failures.exists(number)
                raise failures.not_found(number)
            doc.update(pvt_state="reserved", pvt_assigned_to=account_id)
            return await registry.save(tx, doc)

    async def move(self, actor: Actor, number: str, from_id: str, to_id: str) -> Doc:
        """Hand a number to another account of the caller's tree; its state and settings go with it."""
        number = registry.e164(number)
        async with self._writing() as tx:
            doc = await registry.owned(tx, from_id, number)
            row = await tx.account_row(to_id)
            if row is None:
                raise Missing(to_id)
            if not _reaches(actor, row):
                raise Forbidden({"message": "the destination account is outside your account tree", "cause": to_id})
            if to_id == from_id:
                raise failures.no_change(number)
            await _check_movable(tx, actor, doc)
            doc["pvt_assigned_to"] = to_id
            return await registry.save(tx, doc)


def _reaches(actor: Actor, row) -> bool:
    """Whether the caller may act on the account of this tree row: its own account, or one below it."""
    return actor.superduper or actor.account_id in row.path.split("/")


async def _reaches_id(tx: Tx, actor: Actor, account_id: str) -> bool:
    row = await tx.account_row(account_id)
    return row is not None and _reaches(actor, row)


async def _may_add(tx: Tx, actor: Actor) -> bool:
    account = await tx.find(actor.account_id, actor.account_id)
    return bool(account and account.get("pvt_wnm_allow_additions") is True)


async def _check_movable(tx: Tx, actor: Actor, doc: Doc) -> None:
    """A number leaves its account only for a caller above that account, and only once no callflow uses it."""
    if not await _reaches_id(tx, actor, doc["pvt_assigned_to"]):
        raise failures.not_found(doc["_id"])
    if doc.get("pvt_used_by"):
        raise failures.in_use(doc["_id"], doc["pvt_used_by"])
