"""The platform-wide number registry: one document per E.164 number, held by at most one account.

Number documents live in the system partition with the number as id; the unique key (`number`, E.164)
names the assigned account, so "which account owns +1415..." is one indexed lookup.
"""

from __future__ import annotations

from cloudpbx.errors import Conflicting, Invalid, Missing
from cloudpbx.numbers.classifiers import is_did, normalize
from cloudpbx.store import SYSTEM, Doc, Tx

STATES = ("discovery", "available", "reserved", "in_service", "port_in", "port_out", "released", "aging", "deleted")
ROUTABLE = ("in_service", "available", "port_in")
FEATURE_FIELDS = ("cnam", "e911", "failover", "prepend", "ringback", "force_outbound")


def e164(number: str) -> str:
    value = normalize(number)
    if not is_did(value):
        raise Invalid.field("number", "invalid", "Not a valid phone number", value=number)
    return value


def features(doc: Doc) -> list[str]:
    """Active features, as listings show them."""
    active = []
    for name in FEATURE_FIELDS:
        value = doc.get(name)
        if name == "cnam" and isinstance(value, dict):
            if value.get("display_name"):
                active.append("outbound_cnam")
            if value.get("inbound_lookup"):
                active.append("inbound_cnam")
        elif name == "prepend" and isinstance(value, dict):
            if value.get("enabled"):
                active.append("prepend")
        elif value:
            active.append(name)
    return active


def summary(doc: Doc) -> Doc:
    return {
        "assigned_to": doc.get("pvt_assigned_to"),
        "created": doc.get("pvt_created"),
        "updated": doc.get("pvt_modified"),
        "features": features(doc),
        "state": doc.get("pvt_state"),
        "used_by": doc.get("pvt_used_by", ""),
    }


async def find(tx: Tx, number: str) -> Doc | None:
    return await tx.find(SYSTEM, number)


async def owned(tx: Tx, account_id: str, number: str) -> Doc:
    """The number's document when `account_id` holds it; 404 otherwise (even when another account does)."""
    doc = await find(tx, number)
    if doc is None or doc.get("pvt_assigned_to") != account_id:
        raise Missing(number)
    return doc


async def create(tx: Tx, number: str, account_id: str | None, state: str, fields: Doc) -> Doc:
    if await find(tx, number) is not None:
        raise Conflicting({"message": "number already exists", "cause": number}, "number_exists")
    doc = dict(fields, _id=number, pvt_type="number", pvt_account_id=SYSTEM, pvt_state=state,
               pvt_assigned_to=account_id, pvt_used_by="", pvt_module_name="local")
    return await _save(tx, doc)


async def _save(tx: Tx, doc: Doc) -> Doc:
    """Store a number with the key that points at its holder (the system partition when unassigned)."""
    saved = await tx.save(doc)
    await _rekey(tx, doc["_id"], doc.get("pvt_assigned_to") or SYSTEM)
    return saved


async def _rekey(tx: Tx, number: str, holder: str) -> None:
    current = await tx.lookup("number", number)
    if current and current[0] != holder:
        await tx.set_keys(current[0], number, [])
    if current is None or current[0] != holder:
        await tx.set_keys(holder, number, [("number", number)])


async def update(tx: Tx, doc: Doc) -> Doc:
    return await _save(tx, doc)


async def assign(tx: Tx, doc: Doc, account_id: str | None, state: str) -> Doc:
    doc["pvt_assigned_to"] = account_id
    doc["pvt_state"] = state
    if account_id is None:
        doc["pvt_used_by"] = ""
    return await _save(tx, doc)


async def listing(tx: Tx, account_id: str) -> dict[str, Doc]:
    numbers = [number for number, _ in await tx.keys(account_id, "number")]
    docs = await tx.get_many(SYSTEM, numbers)
    return {n: summary(docs[n]) for n in numbers if n in docs}


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
            raise Invalid.field("numbers", "forbidden", f"Number {number} is not assigned to this account",
                                cause=number)


async def release_numbers(tx: Tx, account_id: str) -> None:
    """An account's numbers go back to the available pool when the account is deleted."""
    for number, _ in await tx.keys(account_id, "number"):
        doc = await find(tx, number)
        if doc:
            await assign(tx, doc, None, "available")
