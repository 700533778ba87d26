"""Route decisions over the stored carriers: the global pool (the system partition, KAZOO's `offnet`) and each
account's own, compiled once per revision of their partition's marker and of the number classifiers.

Every decision reads the marker by primary key (and the classifiers in use, `numbers.classification`, by their
revision), so a carrier or classifier created, changed, disabled or deleted through any process sharing the
database takes effect at the next decision, with no restart.
"""

from __future__ import annotations

import random
from collections import OrderedDict

from cloudpbx.accounts.resources import Resources
from cloudpbx.numbers.classification import Classifiers
from cloudpbx.routing.decision import Decision, Request, decide
from cloudpbx.routing.pool import Pool
from cloudpbx.store import SYSTEM

_KEPT = 1_000  # pools kept compiled, the least recently used dropped first


class Routes:
    def __init__(self, resources: Resources, classifiers: Classifiers):
        self.resources = resources
        self.classifiers = classifiers
        # partition → (marker, the classifier list it was compiled with, the pool)
        self._pools: OrderedDict[str, tuple[str | None, list[dict], Pool]] = OrderedDict()

    async def pool(self, partition: str) -> Pool:
        """The compiled carriers of a partition (`SYSTEM` for the global ones), as stored now."""
        marker = await self.resources.revision(partition)  # before the documents: a later change moves it again
        classifiers = await self.classifiers.current()  # the same list until their revision moves
        held = self._pools.get(partition)
        if held is not None and held[0] == marker and held[1] is classifiers:
            self._pools.move_to_end(partition)
            return held[2]
        docs = await self.resources.load(partition)
        pool = await Pool.build(docs, classifiers, is_global=partition == SYSTEM)
        self._pools[partition] = (marker, classifiers, pool)
        self._pools.move_to_end(partition)
        while len(self._pools) > _KEPT:
            self._pools.popitem(last=False)
        return pool

    async def decide(self, request: Request, local: str | None = None, rng: random.Random | None = None) -> Decision:
        """The decision over the global carriers, or over the carriers of the account `local`."""
        return decide(await self.pool(local or SYSTEM), request, rng)
