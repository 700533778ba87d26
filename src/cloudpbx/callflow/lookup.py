"""Routing: the dialled number → the callflow of the caller's account (KAZOO's cf_flow lookup).

Order: an exact number (the `cf_number` keys, tried as dialled and normalised to E.164, the form callflow
numbers are stored in), then every pattern of the account with the longest capture winning, then the account's
`no_match` callflow when the number is all digits. A `no_match` callflow is only for authorized callers
(devices), so carrier calls never reach offnet routes through it.

Compiled patterns are cached per account with the callflow documents holding them; each pattern lookup checks
the cache against the revisions of those documents (one indexed query), so an update is seen at once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from cloudpbx.accounts.kinds import compile_pattern
from cloudpbx.numbers.classifiers import normalize
from cloudpbx.store import Doc, Store

log = logging.getLogger("cloudpbx.callflow")

NO_MATCH = "no_match"
_DIALABLE = re.compile(r"\+?[0-9]+")
_CACHE_LIMIT = 10_000  # accounts whose patterns are kept


@dataclass(frozen=True)
class Route:
    """The callflow a number reached (its document is shared: read it, never change it) and the captures."""

    callflow: Doc
    number: str
    capture_group: str | None = None
    capture_groups: dict[str, str] = field(default_factory=dict)

    @property
    def no_match(self) -> bool:
        return NO_MATCH in (self.callflow.get("numbers") or [])


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern
    doc_id: str

    def search(self, number: str) -> re.Match | None:
        return self.regex.search(number)

    def captured(self, match: re.Match) -> str:
        """With groups: the longest group (KAZOO's capture_group); without: the whole match."""
        if not self.regex.groups:
            return match.group(0)
        return max((group or "" for group in match.groups()), key=len)


@dataclass(frozen=True)
class _Patterns:
    signature: tuple[tuple[str, str, str], ...]
    patterns: list[_Pattern]
    docs: dict[str, Doc]


class Router:
    def __init__(self, store: Store):
        self.store = store
        self._cache: dict[str, _Patterns] = {}

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
            held = await self.store.lookup("cf_number", f"{account_id}:{candidate}")
            doc = await self.store.find(account_id, held[1]) if held else None
            if doc is not None and doc.get("pvt_type") == "callflow":
                return Route(doc, number)
        return None

    async def _pattern(self, account_id: str, number: str) -> Route | None:
        compiled = await self._compiled(account_id)
        best: tuple[str, _Pattern, re.Match] | None = None
        for pattern in compiled.patterns:
            match = pattern.search(number)
            if match is not None:
                captured = pattern.captured(match)
                if best is None or len(captured) > len(best[0]):
                    best = (captured, pattern, match)
        if best is None:
            return None
        captured, pattern, match = best
        named = {name: value for name, value in match.groupdict().items() if value}
        return Route(compiled.docs[pattern.doc_id], number, captured or None, named)

    async def _compiled(self, account_id: str) -> _Patterns:
        """The account's patterns, recompiled only when a callflow holding one changed (or one came or went)."""
        prefix = f"{account_id}:"
        async with self.store.read() as tx:
            signature = tuple(await tx.key_revisions(account_id, "cf_pattern"))
            cached = self._cache.get(account_id)
            if cached is not None and cached.signature == signature:
                return cached
            docs = await tx.get_many(account_id, {doc_id for _, doc_id, _ in signature})
        patterns = []
        for key, doc_id, _ in signature:
            try:
                patterns.append(_Pattern(compile_pattern(key[len(prefix):]), doc_id))
            except re.error as exc:
                log.warning("callflow %s of %s has a pattern that does not compile: %s", doc_id, account_id, exc)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        compiled = _Patterns(signature, [p for p in patterns if p.doc_id in docs], docs)
        self._cache[account_id] = compiled
        return compiled
