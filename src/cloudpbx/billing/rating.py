"""Rating a number: the rate of a deck that applies to a call, by longest prefix, then direction, then weight.

Each deck is held in memory as two dictionaries, one per call direction, from a prefix to the rate a call of that
direction gets there (a rate of the call's own direction before one for both, then the lowest weight, then the
lowest id): a lookup tries the number's prefixes from the longest down, one dictionary probe per digit. An index
belongs to a revision of the deck's marker (`decks.py`), read by primary key per lookup, so a deck changed through
any process sharing the database is rated anew at the next call; lookups arriving while a read of the marker is in
flight share it (so a change may be seen one read later), and one build serves every lookup waiting for it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from cloudpbx.billing.decks import marker_id
from cloudpbx.billing.rates import Rate
from cloudpbx.errors import Failure
from cloudpbx.store import SYSTEM, Store
from cloudpbx.store import rates as table

CALL_DIRECTIONS = ("inbound", "outbound")
KEPT_DECKS = 64  # decks indexed at once per process; past it the least recently built is dropped


class NoRate(Failure):
    """404 `no_rate_found`: the deck has no rate for the number in that direction."""

    code = 404
    message = "no_rate_found"


@dataclass(frozen=True, slots=True)
class DeckIndex:
    by_direction: dict[str, dict[str, Rate]]
    longest: int
    size: int

    @classmethod
    def of(cls, rates: list[Rate]) -> DeckIndex:
        by_direction: dict[str, dict[str, Rate]] = {d: {} for d in CALL_DIRECTIONS}
        for direction, index in by_direction.items():
            for rate in rates:
                if rate.direction in (direction, "both"):
                    held = index.get(rate.prefix)
                    if held is None or _rank(rate, direction) < _rank(held, direction):
                        index[rate.prefix] = rate
        return cls(by_direction, max((len(r.prefix) for r in rates), default=0), len(rates))

    def lookup(self, digits: str, direction: str) -> Rate | None:
        index = self.by_direction[direction]
        for length in range(min(len(digits), self.longest), 0, -1):
            rate = index.get(digits[:length])
            if rate is not None:
                return rate
        return None


def _rank(rate: Rate, direction: str) -> tuple[int, int, str]:
    return (0 if rate.direction == direction else 1, rate.weight, rate.id)


class Rates:
    def __init__(self, store: Store):
        self.store = store
        self._built: dict[str, tuple[str, DeckIndex]] = {}  # deck → (marker revision, index)
        self._building: dict[tuple[str, str], asyncio.Future] = {}
        self._reading: dict[str, asyncio.Future] = {}  # deck → its marker read in flight

    async def rate(self, deck: str, number: str, direction: str = "outbound") -> Rate:
        """The rate for an E.164 number (with or without +) called in `direction`; NoRate when none applies."""
        if direction not in CALL_DIRECTIONS:
            raise ValueError(f"direction {direction!r} is neither inbound nor outbound")
        found = (await self.index(deck)).lookup(number.lstrip("+"), direction)
        if found is None:
            raise NoRate({"message": f"no rate in deck {deck!r} for {number} ({direction})", "cause": number})
        return found

    async def index(self, deck: str) -> DeckIndex:
        """The deck's index at its marker's current revision."""
        revision = await self._revision(deck)
        built = self._built.get(deck)
        if built is not None and built[0] == revision:
            return built[1]
        key = (deck, revision)
        build = self._building.get(key)
        if build is None:
            build = self._building[key] = asyncio.ensure_future(self._build(deck, revision))
            build.add_done_callback(lambda _: self._building.pop(key, None))
        return await asyncio.shield(build)

    async def _revision(self, deck: str) -> str:
        """The marker's revision ("" for a deck never made), by one point read that every lookup of the deck
        arriving while it is in flight shares: on PostgreSQL a read is a round trip, and calls come together."""
        reading = self._reading.get(deck)
        if reading is None:
            reading = self._reading[deck] = asyncio.ensure_future(self.store.find_row(SYSTEM, marker_id(deck)))
            reading.add_done_callback(lambda _: self._reading.pop(deck, None))
        row = await asyncio.shield(reading)
        return row.rev if row else ""

    async def _build(self, deck: str, revision: str) -> DeckIndex:
        async with self.store.read() as tx:
            rows = await table.deck_rows(tx, deck) if revision else []
        index = await asyncio.to_thread(lambda: DeckIndex.of([Rate(*row) for row in rows]))
        if deck not in self._built and len(self._built) >= KEPT_DECKS:
            self._built.pop(next(iter(self._built)))
        self._built[deck] = (revision, index)
        return index
