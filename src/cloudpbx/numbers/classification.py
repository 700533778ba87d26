"""The classifiers the platform uses now, shared by the API, maintenance commands and call routing.

They come from system config `number_manager.classifiers` (KAZOO's `kapps_config` key). Each use reads that
document by primary key and compiles nothing new unless its revision moved, so a change made through
`/v2/system_configs/number_manager` or `sup kapps_config set_json` is used by the next call in every process
sharing the database, with no restart and no cache to wait out.
"""

from __future__ import annotations

from cloudpbx.accounts.system_configs import SystemConfigs, setting
from cloudpbx.numbers import classifiers

CATEGORY = "number_manager"
KEY = "classifiers"


class Classifiers:
    MATCHES_KEPT = 10_000  # numbers whose class is remembered (then forgotten all at once): bounded, whoever dials

    def __init__(self, configs: SystemConfigs):
        self.configs = configs
        self._seen: tuple[str | None, list[dict]] = (None, classifiers.DEFAULT_CLASSIFIERS)
        self._matches: dict[str, dict | None] = {}  # E.164 number → its classifier under the revision seen

    async def current(self) -> list[dict]:
        """The classifiers in matching order (the defaults when none usable is configured)."""
        doc = await self.configs.current(CATEGORY)
        revision = doc.get("_rev") if doc else None
        if revision != self._seen[0]:
            self._seen = (revision, classifiers.from_config(setting(doc, KEY)))
            self._matches = {}
        return self._seen[1]

    async def match(self, number: str) -> dict | None:
        """`classifiers.match` over the current classifiers, remembered per number while their revision holds:
        every call is classified once or twice, by the same regexes, for the numbers dialled most."""
        in_use = await self.current()
        e164 = classifiers.normalize(number)
        if e164 in self._matches:
            return self._matches[e164]
        if len(self._matches) >= self.MATCHES_KEPT:
            self._matches = {}
        found = self._matches[e164] = classifiers.match(e164, in_use)
        return found

    async def listing(self) -> dict[str, dict]:
        """KAZOO's `available_classifiers`: name → settings, in matching order."""
        return classifiers.by_name(await self.current())

    async def describe(self, number: str) -> dict:
        return classifiers.described(number, await self.current())
