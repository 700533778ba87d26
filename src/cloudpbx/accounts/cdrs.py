"""Call detail records: the call engine records each leg when it ends; the API reads them per account.

A leg arrives flat (`record_leg`), is checked against the `cdr_leg` schema and is stored as KAZOO keeps a CDR:
the call's fields at the top, the platform's own (account, device, owner, bridge, rating) under
`custom_channel_vars`, and the durations computed from its start, answer and end. Its id is `YYYYMM-<call id>`
with the month it ended in, so reading one goes straight to its month.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

from cloudpbx import schemas
from cloudpbx.accounts.documents import public
from cloudpbx.errors import Conflicting, Invalid, Missing
from cloudpbx.ids import GREGORIAN_OFFSET, random_hex
from cloudpbx.store import Conflict, Doc, Store
from cloudpbx.store import cdrs as table
from cloudpbx.store.cdrs import Key, Row, Span

log = logging.getLogger(__name__)

# Leg fields KAZOO keeps under custom_channel_vars rather than at the top of the CDR.
CHANNEL_VARS = (
    "authorizing_id",
    "authorizing_type",
    "owner_id",
    "bridge_id",
    "username",
    "realm",
    "resource_id",
    "account_billing",
    "rate",
    "rate_name",
    "rate_increment",
    "rate_minimum",
    "rate_nocharge_time",
    "surcharge",
    "call_priority",
    "media_recordings",
)
PATH_SAFE = re.compile(r"[A-Za-z0-9._~@+=:-]{1,200}")  # call ids that can stand in a URL path as they are
CDR_ID = re.compile(r"\d{4}(0[1-9]|1[0-2])-.+")


def new_interaction_id(start: float) -> str:
    """KAZOO's shape: the interaction's start in Gregorian seconds, a dash and a random key."""
    return f"{int(start)}-{random_hex(4)}"


def _utc(gregorian: int) -> datetime:
    return datetime.fromtimestamp(gregorian - GREGORIAN_OFFSET, UTC)


def cdr_id(call_id: str, created: int) -> str:
    """`YYYYMM-<call id>`; call ids that a URL path cannot carry are replaced by their hash."""
    tail = call_id if PATH_SAFE.fullmatch(call_id) else hashlib.md5(call_id.encode()).hexdigest()
    return f"{_utc(created):%Y%m}-{tail}"


# Writing -----------------------------------------------------------------------------------------------------------


def normalise(account_id: str, leg: dict) -> Doc:
    """The CDR document for one leg, or Invalid with Crossbar-shaped errors."""
    doc, errors = schemas.validate("cdr_leg", leg)
    if errors:
        raise Invalid(errors)
    start, end = doc.pop("start_timestamp"), doc.pop("end_timestamp")
    answer = doc.pop("answer_timestamp", None)
    if end < start:
        raise Invalid.field("end_timestamp", "minimum", "A leg cannot end before it starts", value=end)
    if answer is not None and not start <= answer <= end:
        raise Invalid.field(
            "answer_timestamp", "date_range", "A leg is answered between its start and end", value=answer
        )
    channel_vars = {**doc.pop("custom_channel_vars", {}), **{k: doc.pop(k) for k in CHANNEL_VARS if k in doc}}
    channel_vars["account_id"] = account_id
    if isinstance(doc.get("hangup_code"), int):
        doc["hangup_code"] = f"sip:{doc['hangup_code']}"
    doc.setdefault("interaction_id", new_interaction_id(start))
    doc.update(
        timestamp=int(end),
        start_timestamp=int(start),
        end_timestamp=int(end),
        channel_created_time=round((start - GREGORIAN_OFFSET) * 1_000_000),  # unix microseconds, as KAZOO keeps it
        duration_seconds=round(end - start),
        billing_seconds=0 if answer is None else round(end - answer),
        ringing_seconds=round((end if answer is None else answer) - start),
        custom_channel_vars=channel_vars,
    )
    if answer is not None:
        doc["answer_timestamp"] = int(answer)
    return doc


def prepare(account_id: str, leg: dict) -> tuple[Row, Doc]:
    """The table row and CDR document of one leg, or Invalid."""
    doc = normalise(account_id, leg)
    created = doc["end_timestamp"]
    ident = cdr_id(doc["call_id"], created)
    row = Row(
        account_id=account_id,
        month=ident[:6],
        id=ident,
        created=created,
        interaction_id=doc["interaction_id"],
        call_id=doc["call_id"],
        owner_id=doc["custom_channel_vars"].get("owner_id"),
    )
    return row, doc


async def record_leg(store: Store, account_id: str, leg: dict) -> Doc:
    """Check, complete and store one ended leg (one insert, one transaction); returns the CDR with its `id`."""
    row, doc = prepare(account_id, leg)
    try:
        async with store.write() as tx:
            await table.insert_cdr(tx, row, doc)
    except Conflict as exc:
        raise Conflicting({"message": f"call {doc['call_id']} already has a CDR", "cause": row.id}) from exc
    return {**doc, "id": row.id}


class CdrWriter:
    """Stores the legs a call engine ends, in the background and many per transaction (group commit).

    A call must not wait for its CDR, and one transaction per leg cannot keep up with hundreds of calls a second
    on SQLite. Idle, a leg is written at once; under load the legs that arrive while one batch commits, and for
    GATHER_S after, make up the next. A batch is a quick write, which leaves the rows point reads keep alone. A
    batch that conflicts is retried leg by leg, so one bad leg never loses the others.
    """

    BATCH = 500
    GATHER_S = 0.05

    def __init__(self, store: Store):
        self.store = store
        self._pending: deque[tuple[Row, Doc]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def record(self, account_id: str, leg: dict) -> None:
        """Queue one ended leg; a leg that fails its schema is logged and dropped."""
        try:
            self._pending.append(prepare(account_id, leg))
        except Invalid as exc:
            log.error("CDR of call %s is invalid: %s", leg.get("call_id"), exc)
            return
        self._idle.clear()
        self._wake.set()

    async def flushed(self) -> None:
        """Wait until every leg queued so far is stored (or logged as failed)."""
        await self._idle.wait()

    async def close(self) -> None:
        """Store what is queued, then stop."""
        if self._task is not None:
            await self.flushed()
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(self.BATCH, len(self._pending)))]
                await self._write(batch)
                if self._pending:
                    await asyncio.sleep(self.GATHER_S)
            self._idle.set()

    async def _write(self, batch: list[tuple[Row, Doc]]) -> None:
        try:
            await table.insert_cdrs(self.store, batch)
            return
        except Conflict:
            pass
        except Exception:
            log.exception("storing %d CDRs failed; trying them one by one", len(batch))
        for row, doc in batch:
            try:
                async with self.store.write() as tx:
                    await table.insert_cdr(tx, row, doc)
            except Conflict:
                log.error("call %s already has a CDR (%s): this leg is not stored", doc["call_id"], row.id)
            except Exception:
                log.exception("CDR %s not stored", row.id)


# Reading -----------------------------------------------------------------------------------------------------------


async def get(store: Store, account_id: str, ident: str) -> Doc:
    """One CDR of the account by id; ids of other accounts are simply not found."""
    async with store.read() as tx:
        doc = await table.get_cdr(tx, account_id, ident[:6], ident) if CDR_ID.fullmatch(ident) else None
    if doc is None:
        raise Missing(ident)
    return public(doc)


async def legs(store: Store, account_id: str, ref: str) -> list[Doc]:
    """Every leg of an interaction, first created first; `ref` is the interaction id or the id of one of its CDRs."""
    async with store.read() as tx:
        found = await table.get_cdr(tx, account_id, ref[:6], ref) if CDR_ID.fullmatch(ref) else None
        docs = await table.legs(tx, account_id, [found["interaction_id"] if found else ref])
    if not docs:
        raise Missing(ref)
    return [public(doc) for doc in sorted(docs, key=_leg_order)]


async def list_legs(
    store: Store, span: Span, start: Key | None, size: int | None, keep: Callable[[Doc], bool]
) -> tuple[list[Doc], Key | None]:
    """A page of the span's legs that `keep` accepts, and where the next page starts (None at the end)."""
    found: list[Doc] = []
    bound, inclusive = start, True
    async with store.read() as tx:
        while True:
            batch = await table.page(tx, span, bound, None if size is None else size + 1, inclusive=inclusive)
            found += [doc for doc in batch if keep(doc)]
            if size is None or len(batch) <= size or len(found) > size:
                break
            bound, inclusive = (batch[-1]["pvt_created"], batch[-1]["_id"]), False
    if size is None or len(found) <= size:
        return found, None
    return found[:size], (found[size]["pvt_created"], found[size]["_id"])


async def list_interactions(
    store: Store, span: Span, start: Key | None, size: int | None
) -> tuple[list[Doc], Key | None]:
    """One row per interaction with legs in the span, and where the next page starts (None at the end)."""
    async with store.read() as tx:
        heads = await table.interaction_page(tx, span, start, None if size is None else size + 1)
        following = heads[size] if size is not None and len(heads) > size else None
        heads = heads[:size] if size is not None else heads
        docs = await table.legs(tx, span.account_id, [interaction for _, interaction in heads])
    grouped: dict[str, list[Doc]] = {}
    for doc in docs:
        grouped.setdefault(doc["interaction_id"], []).append(doc)
    return [interaction_row(grouped[interaction], span.owner_id) for _, interaction in heads], following


# Listing rows, in KAZOO's columns ------------------------------------------------------------------------------------


def _leg_order(doc: Doc) -> tuple:
    return doc["channel_created_time"], doc["call_direction"] != "inbound", doc["_id"]


def _user_part(address: str) -> str:
    return address.partition("@")[0]


def _dollars(units: int) -> str:
    return f"{units / 10000:.4f}".rstrip("0").rstrip(".")


def call_cost(channel_vars: Doc) -> int:
    """Units a leg cost: what per-minute billing debited for it when it ended (`per_minute_cost`, the cost formula
    on its billing seconds at its rate), so the listing and the ledgers agree to the unit."""
    cost = channel_vars.get("per_minute_cost", 0)
    return cost if isinstance(cost, int) and not isinstance(cost, bool) else 0


def listing_row(doc: Doc) -> Doc:
    """A leg as Crossbar lists it; `timestamp` and the dates are the leg's start."""
    ccv = doc["custom_channel_vars"]

    def text(key: str) -> str:
        return doc.get(key, "")

    start = doc["start_timestamp"]
    moment = _utc(start)
    inbound = doc["call_direction"] == "inbound"
    authorizing = ccv.get("authorizing_id", "")
    return {
        "id": doc["_id"],
        "call_id": doc["call_id"],
        "caller_id_number": text("caller_id_number"),
        "caller_id_name": text("caller_id_name"),
        "callee_id_number": text("callee_id_number"),
        "callee_id_name": text("callee_id_name"),
        "duration_seconds": doc["duration_seconds"],
        "billing_seconds": doc["billing_seconds"],
        "timestamp": str(start),
        "hangup_cause": text("hangup_cause"),
        "disposition": text("disposition"),
        "other_leg_call_id": text("other_leg_call_id"),
        "owner_id": ccv.get("owner_id", ""),
        "to": text("to"),
        "from": text("from"),
        "direction": doc["call_direction"],
        "request": text("request"),
        "authorizing_id": "" if authorizing == ccv["account_id"] else authorizing,
        "cost": str(call_cost(ccv)),
        "dialed_number": _user_part(text("request") if inbound else text("to")),
        "calling_from": text("caller_id_number") if inbound else _user_part(text("from_uri")),
        "datetime": f"{moment:%Y-%m-%d %H:%M:%S}",
        "unix_timestamp": str(start - GREGORIAN_OFFSET),
        "rfc_1036": format_datetime(moment, usegmt=True),
        "iso_8601": f"{moment:%Y-%m-%d}",
        "iso_8601_combined": f"{moment:%Y-%m-%dT%H:%M:%SZ}",
        "call_type": ccv.get("account_billing", ""),
        "rate": _dollars(ccv.get("rate", 0)),
        "rate_name": ccv.get("rate_name", ""),
        "bridge_id": ccv.get("bridge_id", ""),
        "recording_url": text("recording_url"),
        "media_recordings": ccv.get("media_recordings", []),
        "media_server": text("media_server"),
        "call_priority": ccv.get("call_priority", ""),
        "interaction_id": doc["interaction_id"],
    }


def interaction_row(docs: list[Doc], owner_id: str | None) -> Doc:
    """The interaction's first leg (the owner's first, on a user's listing) as a listing row, plus its leg count.

    `inception_direction` says who started it: on an account a leg from a device is an origination; on a user's
    listing the user's own inbound leg is.
    """
    mine = [doc for doc in docs if owner_id is None or doc["custom_channel_vars"].get("owner_id") == owner_id]
    first = min(mine, key=_leg_order)
    row = listing_row(first)
    if owner_id is None:
        originated = bool(first["custom_channel_vars"].get("authorizing_id"))
    else:
        originated = first["call_direction"] == "inbound"
    row["inception_direction"] = "origination" if originated else "termination"
    row["leg_count"] = len(docs)
    return row
