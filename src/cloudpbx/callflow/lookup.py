"""Routing: the dialled number → the callflow of the caller's account (KAZOO's cf_flow lookup).

Order: an exact number (the `cf_number` keys, tried as dialled and normalised to E.164, the form callflow
numbers are stored in), then every pattern of the account with the longest capture winning, then the account's
`no_match` callflow when the number is all digits. A `no_match` callflow is only for authorized callers
(devices), so carrier calls never reach offnet routes through it.

Patterns are tenant input, so they run on RE2 (`cloudpbx.regex`): one pass per slice of an account's patterns, and
the loop handed back between slices. They are compiled once per account and kept while the account's pattern
marker (a document whose revision every change to a pattern-holding callflow renews, `accounts.kinds`) keeps its
revision: one point read per lookup, in every process. The callflow a route reaches is read by id through
`accounts.callflows` (decoded once per revision), so a change to its flow is seen at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field

from cloudpbx.accounts import callflows
from cloudpbx.accounts.callflows import NO_MATCH, Callflows
from cloudpbx.numbers.classifiers import normalize
from cloudpbx.regex import Match, PatternSet
from cloudpbx.store import Doc

log = logging.getLogger("cloudpbx.callflow")

MAX_DIALLED = 128  # longer numbers are matched by exact number only: no one dials more
_DIALABLE = re.compile(r"\+?[0-9]+")
_KEPT_PATTERNS = 200_000  # patterns kept compiled over all accounts, the least recently routed dropped first


@dataclass(frozen=True)
class Route:
    """The callflow a number reached (its document is shared: read it, never change it) and the captures."""

    callflow: Doc
    number: str
    capture_group: str | None = None
    capture_groups: dict[str, str] = field(default_factory=dict)

    @property
    def no_match(self) -> bool:
        return NO_MATCH in callflows.numbers(self.callflow)


@dataclass(frozen=True)
class _Patterns:
    marker: str | None  # the revision of the account's pattern marker they were compiled at
    doc_ids: list[str]  # the callflow of each pattern
    patterns: PatternSet


def _captured(match: Match) -> str:
    """With groups: the longest group (KAZOO's capture_group); without: the whole match."""
    groups = match.groups()
    if not groups:
        return match.group(0)
    return max((group or "" for group in groups), key=len)


class Router:
    def __init__(self, callflows: Callflows):
        self.callflows = callflows
        self._cache: OrderedDict[str, _Patterns] = OrderedDict()  # account → its compiled patterns, oldest first
        self._building: dict[str, tuple[str | None, asyncio.Future]] = {}  # account → (marker, compile under way)
        self._kept = 0

    async def lookup(self, account_id: str, number: str, *, authorized: bool) -> Route | None:
        """The route for `number`, or None. `authorized`: the caller is an authenticated device."""
        if not number:
            return None
        route = await self._exact(account_id, number) or await self._pattern(account_id, number)
        if route is None and _DIALABLE.fullmatch(number):
            route = await self._exact(account_id, NO_MATCH)
        if route is not None and route.no_match and not authorized:
            log.info("only a no_match callflow routes %s in %s, and the caller is not authorized", number, account_id)
            return None
        return route

    async def _exact(self, account_id: str, number: str) -> Route | None:
        for candidate in dict.fromkeys((number, normalize(number))):
            held = await self.callflows.by_number(account_id, candidate)
            doc = await self.callflows.get(account_id, held) if held else None
            if doc is not None:
                return Route(doc, number)
        return None

    async def _pattern(self, account_id: str, number: str) -> Route | None:
        if len(number) > MAX_DIALLED:
            return None
        compiled = await self._compiled(account_id)
        best = None
        for index, match in await compiled.patterns.matches(number):
            captured = _captured(match)
            if best is None or len(captured) > len(best[0]):
                best = (captured, index, match)
        if best is None:
            return None
        captured, index, match = best
        doc = await self.callflows.get(account_id, compiled.doc_ids[index])
        if doc is None:
            return None
        named = {name: value for name, value in match.groupdict().items() if value}
        return Route(doc, number, captured or None, named)

    async def _compiled(self, account_id: str) -> _Patterns:
        """The account's patterns, compiled again only when its marker moved; one compile serves every waiter."""
        marker = await self.callflows.patterns_revision(account_id)
        cached = self._cache.get(account_id)
        if cached is not None and cached.marker == marker:
            self._cache.move_to_end(account_id)
            return cached
        building = self._building.get(account_id)
        if building is None or building[0] != marker:
            building = (marker, asyncio.ensure_future(self._compile(account_id, marker)))
            self._building[account_id] = building
        return await asyncio.shield(building[1])

    async def _compile(self, account_id: str, marker: str | None) -> _Patterns:
        try:
            held = await self.callflows.patterns(account_id)
            compiled = _Patterns(marker, [doc_id for _, doc_id in held], await PatternSet.build([p for p, _ in held]))
        finally:
            current = self._building.get(account_id)
            if (
                current is not None and current[1] is asyncio.current_task()
            ):  # not a newer compile that replaced this one
                del self._building[account_id]
        skipped = compiled.patterns.refused()
        if skipped:
            log.warning("%d callflow patterns of %s do not compile and are ignored", skipped, account_id)
        self._keep(account_id, compiled)
        return compiled

    def _keep(self, account_id: str, compiled: _Patterns) -> None:
        replaced = self._cache.pop(account_id, None)
        if replaced is not None:
            self._kept -= _weight(replaced)
        self._cache[account_id] = compiled
        self._kept += _weight(compiled)
        while self._kept > _KEPT_PATTERNS and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._kept -= _weight(dropped)


def _weight(compiled: _Patterns) -> int:
    return max(1, len(compiled.patterns))
