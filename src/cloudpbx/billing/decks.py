"""Rate decks: who manages which deck, the rates of a deck (one at a time or a whole CSV deck), and which deck an
account's calls are rated by.

A system admin manages every deck; a reseller the decks it created (their owner); nobody else any. Each deck has a
marker document `ratedeck_<id>` in the system partition naming its owner, whose revision is renewed in the
transaction that changes the deck's rows: every process's rating index (`rating.py`) compares it per lookup.
An account's deck is its `pvt_ratedeck_id`, set by its reseller or a system admin, else system config
`rates.default_ratedeck` ("default"); service plans will pick it later.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountDirectory, AccountNode
from cloudpbx.billing import plans, rate_csv
from cloudpbx.billing.rates import FIELDS, FieldError, Rate, checked, deck_id
from cloudpbx.errors import Conflicting, Forbidden, Invalid, Missing
from cloudpbx.store import SYSTEM, Conflict, Doc, Store, Tx, new_id
from cloudpbx.store import rates as table

MARKER_TYPE = "ratedeck"
DEFAULT_DECK = "default"
NOT_MANAGER = "rate decks are managed by system admins and resellers"


def marker_id(deck: str) -> str:
    return f"ratedeck_{deck}"


@dataclass(frozen=True, slots=True)
class Manager:
    """Who asks: the caller's account, whether it is a system admin, whether it is a reseller."""

    account_id: str
    superduper: bool
    reseller: bool

    def check(self) -> None:
        if not (self.superduper or self.reseller):
            raise Forbidden({"message": NOT_MANAGER})


class RateDecks:
    def __init__(self, store: Store, directory: AccountDirectory, configs: SystemConfigs):
        self.store = store
        self.directory = directory
        self.configs = configs

    async def default_deck(self) -> str:
        value = await self.configs.value("rates", "default_ratedeck", DEFAULT_DECK)
        return value if isinstance(value, str) and value else DEFAULT_DECK

    async def deck_of(self, account_id: str) -> str:
        """The deck the account's calls are rated by: the one its provider gave the account itself
        (`/ratedeck`), else the one its service plans pick, else the platform's default."""
        doc = await self.store.find(account_id, account_id)
        chosen = doc.get("pvt_ratedeck_id") if doc else None
        if isinstance(chosen, str) and chosen:
            return chosen
        return await plans.ratedeck_of(self.store, account_id) or await self.default_deck()

    # --- rates one at a time

    async def create(self, who: Manager, data: Any) -> Rate:
        values = await self._values(data, {})
        async with self.store.write() as tx:
            await self._changing(tx, who, values["ratedeck_id"])
            await table.insert_rates(tx, [values])
        return Rate(**values)

    async def get(self, who: Manager, rate_id: str) -> Rate:
        async with self.store.read() as tx:
            return await self._readable(tx, who, rate_id)

    async def replace(self, who: Manager, rate_id: str, data: Any, merge: bool = False) -> Rate:
        async with self.store.write() as tx:
            old = await self._readable(tx, who, rate_id)
            base = old.view() if merge else {"ratedeck_id": old.ratedeck_id}
            values = await self._values({**base, **data} if isinstance(data, dict) else data, {"id": rate_id})
            if values["ratedeck_id"] != old.ratedeck_id:
                await self._changing(tx, who, old.ratedeck_id)
            await self._changing(tx, who, values["ratedeck_id"])
            await table.update_rate(tx, rate_id, values)
        return Rate(**values)

    async def delete(self, who: Manager, rate_id: str) -> Rate:
        async with self.store.write() as tx:
            old = await self._readable(tx, who, rate_id)
            await self._changing(tx, who, old.ratedeck_id)
            await table.delete_rate(tx, rate_id)
        return old

    async def page(self, who: Manager, deck: str | None, start: str | None, limit: int | None) -> list[Rate]:
        who.check()
        async with self.store.read() as tx:
            decks = await self._managed(tx, who)
            if deck is not None:
                decks = {deck} & decks if decks is not None else {deck}
            rows = await table.page(tx, decks, start, limit)
        return [Rate(**row) for row in rows]

    # --- whole decks

    async def upload(self, who: Manager, deck: str, content: bytes) -> int:
        """Replace the deck's rates with the file's, all or none; the number of rates stored."""
        deck = _deck_arg(deck)
        who.check()
        rows = await asyncio.to_thread(rate_csv.parse, content, deck)
        async with self.store.write() as tx:
            await self._changing(tx, who, deck)
            await table.delete_deck(tx, deck)
            await table.insert_rates(tx, rows)
        return len(rows)

    async def decks(self, who: Manager) -> list[dict[str, Any]]:
        """The decks the caller manages with their owner and number of rates."""
        who.check()
        async with self.store.read() as tx:
            markers = await tx.list(SYSTEM, MARKER_TYPE)
            counts = await table.counts(tx)
        return [
            {"id": doc["name"], "owner_id": doc["pvt_owner_id"], "rates": counts.get(doc["name"], 0)}
            for doc in markers
            if who.superduper or doc["pvt_owner_id"] == who.account_id
        ]

    async def assign(self, who: Manager, account: AccountNode, deck: Any) -> str:
        """Give the account a deck (None: back to the default); only its reseller or a system admin, and a
        reseller only a deck it owns or a system admin's."""
        if not who.superduper and await self.directory.reseller_id(account) != who.account_id:
            raise Forbidden({"message": "an account's rate deck is set by its reseller or a system admin"})
        async with self.store.write() as tx:
            if deck is not None:
                deck = _deck_arg(deck, "ratedeck_id")
                marker = await tx.find(SYSTEM, marker_id(deck))
                if marker is None:
                    raise Invalid.field("ratedeck_id", "not_found", f"there is no rate deck {deck!r}")
                if not who.superduper and not await self._assignable(who, marker):
                    raise Forbidden({"message": f"rate deck {deck!r} is not yours to assign"})
            doc = await tx.get(account.id, account.id)
            doc.pop("pvt_ratedeck_id", None)
            if deck is not None:
                doc["pvt_ratedeck_id"] = deck
            try:
                await tx.save(doc)
            except Conflict:  # the account changed meanwhile (PostgreSQL runs writers side by side)
                raise Conflicting() from None
        return deck if deck is not None else await self.default_deck()

    # --- helpers

    async def _assignable(self, who: Manager, marker: Doc) -> bool:
        owner = marker["pvt_owner_id"]
        node = await self.directory.get(owner) if owner != who.account_id else None
        return owner == who.account_id or (node is not None and node.superduper)

    async def _values(self, data: Any, fixed: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise Invalid.field("data", "type", "a rate is a JSON object")
        unknown = sorted(set(data) - set(FIELDS) - {"id", "ratedeck_id"})
        values, errors = checked(data)
        for name in unknown:
            errors[name] = {"unknown": {"message": "a rate has no such field"}}
        try:
            deck = deck_id(data["ratedeck_id"]) if data.get("ratedeck_id") is not None else await self.default_deck()
        except FieldError as exc:
            errors["ratedeck_id"] = {exc.rule: {"message": exc.message}}
            deck = ""
        if errors:
            raise Invalid(errors)
        return {"id": fixed.get("id") or new_id(), "ratedeck_id": deck, **values}

    async def _managed(self, tx: Tx, who: Manager) -> set[str] | None:
        """The decks the caller manages; None for all of them."""
        if who.superduper:
            return None
        markers = await tx.list(SYSTEM, MARKER_TYPE)
        return {doc["name"] for doc in markers if doc["pvt_owner_id"] == who.account_id}

    async def _readable(self, tx: Tx, who: Manager, rate_id: str) -> Rate:
        who.check()
        row = await table.get_rate(tx, rate_id)
        if row is None:
            raise Missing(rate_id)
        if not who.superduper:
            marker = await tx.find(SYSTEM, marker_id(row["ratedeck_id"]))
            if marker is None or marker["pvt_owner_id"] != who.account_id:
                raise Missing(rate_id)
        return Rate(**row)

    async def _changing(self, tx: Tx, who: Manager, deck: str) -> None:
        """The caller may change the deck: its marker is created (the caller owning it) or renewed."""
        who.check()
        marker = await tx.find(SYSTEM, marker_id(deck))
        if marker is None:
            if not who.superduper and deck == await self.default_deck():
                raise Forbidden({"message": f"rate deck {deck!r} is the platform's default: system admins only"})
            doc = {
                "_id": marker_id(deck),
                "name": deck,
                "pvt_type": MARKER_TYPE,
                "pvt_account_id": SYSTEM,
                "pvt_owner_id": who.account_id,
            }
            try:
                await tx.save(doc)
            except Conflict:
                raise Forbidden({"message": f"rate deck {deck!r} was created by another account meanwhile"}) from None
            return
        if not who.superduper and marker["pvt_owner_id"] != who.account_id:
            raise Forbidden({"message": f"rate deck {deck!r} belongs to another account"})
        await tx.touch(SYSTEM, marker_id(deck), MARKER_TYPE)


def _deck_arg(value: Any, name: str = "ratedeck_id") -> str:
    try:
        return deck_id(value)
    except FieldError as exc:
        raise Invalid.field(name, exc.rule, exc.message) from None
