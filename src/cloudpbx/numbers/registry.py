"""The platform-wide number registry: one document per E.164 number, held by at most one account.

Number documents live in the system partition with the number as id. The unique key (`number`, E.164) is held
by the assigned account (by the system partition while unassigned), so "which account owns +1415..." is one
indexed lookup and an account's numbers are its keys. Unassigned `available` numbers also hold a
(`number_pool`, E.164) key: the pool that searches walk in number order.
"""

from __future__ import annotations

from cloudpbx.errors import Invalid
from cloudpbx.numbers import failures
from cloudpbx.numbers.classifiers import is_did, normalize
from cloudpbx.numbers.features import AVAILABLE, active
from cloudpbx.store import SYSTEM, Doc, Tx, keys

ROUTABLE = ("in_service", "available", "port_in")


def e164(number: str) -> str:
    """The number in E.164; extensions and garbage are refused (400 `not_reconcilable`)."""
    value = normalize(number)
    if not is_did(value):
        raise failures.not_reconcilable(number)
    return value


def summary(doc: Doc) -> Doc:
    """One entry of an account's number listing."""
    return {
        "assigned_to": doc.get("pvt_assigned_to"),
        "created": doc.get("pvt_created"),
        "updated": doc.get("pvt_modified"),
        "features": active(doc),
        "features_available": list(AVAILABLE),
        "state": doc.get("pvt_state"),
        "used_by": doc.get("pvt_used_by", ""),
    }


def public(doc: Doc) -> Doc:
    """The number as clients see it: its public fields, state, use and features, with `_read_only` details."""
    out = {k: v for k, v in doc.items() if not k.startswith(("_", "pvt_"))}
    entry = summary(doc)
    out.update(id=doc["_id"], state=entry["state"], features=entry["features"])
    if entry["used_by"]:
        out["used_by"] = entry["used_by"]
    out["_read_only"] = {
        "created": entry["created"],
        "modified": entry["updated"],
        "state": entry["state"],
        "used_by": entry["used_by"],
        "features": entry["features"],
        "features_available": entry["features_available"],
    }
    return out


def is_pooled(doc: Doc) -> bool:
    """In the pool: held by nobody and available to be taken."""
    return not doc.get("pvt_assigned_to") and doc.get("pvt_state") == "available"


async def find(tx: Tx, number: str) -> Doc | None:
    return await tx.find(SYSTEM, number)


async def owned(tx: Tx, account_id: str, number: str) -> Doc:
    """The number's document when `account_id` holds it; 404 otherwise (even when another account does)."""
    doc = await find(tx, number)
    if doc is None or doc.get("pvt_assigned_to") != account_id:
        raise failures.not_found(number)
    return doc


async def save(tx: Tx, doc: Doc) -> Doc:
    """Store a number and move its keys to its holder (the system partition when unassigned)."""
    number = doc["_id"]
    holder = doc.get("pvt_assigned_to") or SYSTEM
    current = await tx.lookup(*keys.number(number))
    if current and current[0] != holder:
        await tx.set_keys(current[0], number, [])
    saved = await tx.save(doc)
    held = [keys.number(number)] + ([keys.number_pool(number)] if is_pooled(doc) else [])
    await tx.set_keys(holder, number, held)
    return saved


async def listing(tx: Tx, account_id: str) -> list[Doc]:
    """The account's number documents in number order."""
    numbers = [number for number, _ in await tx.keys(account_id, keys.NUMBER)]
    docs = await tx.get_many(SYSTEM, numbers)
    return [docs[n] for n in numbers if n in docs]


async def set_used_by(tx: Tx, account_id: str, numbers: list[str], used_by: str) -> None:
    """Mark the account's DIDs as used by a callflow (or free them with used_by '')."""
    for number in numbers:
        doc = await find(tx, number)
        if doc and doc.get("pvt_assigned_to") == account_id and doc.get("pvt_used_by", "") != used_by:
            doc["pvt_used_by"] = used_by
            await tx.save(doc)


async def check_ownership(tx: Tx, account_id: str, numbers: list[str]) -> None:
    """DIDs in a callflow must belong to the account (extensions need not)."""
    for number in numbers:
        if not is_did(number):
            continue
        doc = await find(tx, number)
        if doc is None or doc.get("pvt_assigned_to") != account_id:
            raise Invalid.field(
                "numbers", "forbidden", f"Number {number} is not assigned to this account", cause=number
            )


async def release(tx: Tx, doc: Doc, state: str) -> Doc:
    """Unassign a number into `state`; its settings (addresses, caller names...) are not passed on to the next
    holder. The state `deleted` removes the number from the system."""
    kept = {k: v for k, v in doc.items() if k.startswith(("_", "pvt_"))}
    kept.update(
        pvt_state=state, pvt_assigned_to=None, pvt_used_by="", pvt_previously_assigned_to=doc.get("pvt_assigned_to")
    )
    if state == "deleted":
        await purge(tx, doc["_id"])
        return kept
    return await save(tx, kept)


async def purge(tx: Tx, number: str) -> None:
    """Remove a number from the system, with the keys its holder had for it."""
    current = await tx.lookup(*keys.number(number))
    if current:
        await tx.set_keys(current[0], number, [])
    await tx.purge(SYSTEM, number)


async def release_numbers(tx: Tx, account_id: str) -> None:
    """An account's numbers go back to the available pool when the account is deleted."""
    for doc in await listing(tx, account_id):
        await release(tx, doc, "available")
