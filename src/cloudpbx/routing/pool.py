"""One partition's carriers compiled for decisions: the distinct rules of all carriers in RE2 sets (one pass over
the number says which rules match), the classifiers likewise, and each carrier's caller ID rules."""

from __future__ import annotations

from dataclasses import dataclass

from cloudpbx import regex
from cloudpbx.numbers.classifiers import is_emergency
from cloudpbx.regex import Pacer, PatternSet
from cloudpbx.routing.carriers import Carrier, compile_carriers
from cloudpbx.store import Doc


@dataclass(frozen=True, slots=True, eq=False)
class Pool:
    carriers: list[Carrier]  # in the order decisions try them
    rules: PatternSet  # the distinct rules of the enabled carriers (carriers often share one)
    owners: list[list[tuple[int, int]]]  # per distinct rule: (carrier index, rule index in the carrier) holding it
    rule_ids: list[list[int]]  # per carrier: the distinct rule of each of its rules, then of its test rules
    cid_rules: list[list]  # per carrier: its compiled caller ID rules
    classifiers: list[dict]  # the number classifiers in matching order
    classes: PatternSet  # their regexes
    served: frozenset[str]  # the classes that enabled classifier carriers serve

    @classmethod
    async def build(cls, docs: list[Doc], classifiers: list[dict], is_global: bool) -> Pool:
        """Compile, handing the loop back between pieces of work (refused patterns are left out)."""
        carriers = compile_carriers(docs, classifiers, is_global)
        distinct: dict[str, int] = {}
        owners: list[list[tuple[int, int]]] = []
        rule_ids: list[list[int]] = []
        for c, carrier in enumerate(carriers):
            ids = []
            for r, pattern in enumerate((*carrier.rules, *carrier.rules_test) if carrier.enabled else ()):
                if pattern not in distinct:
                    distinct[pattern] = len(owners)
                    owners.append([])
                owners[distinct[pattern]].append((c, r))
                ids.append(distinct[pattern])
            rule_ids.append(ids)
        rules = await PatternSet.build(list(distinct))
        pacer, cid_rules = Pacer(), []
        for carrier in carriers:
            cid_rules.append([_compiled(pattern) for pattern in carrier.cid_rules])
            await pacer.pause()
        served = frozenset(c.classifier for c in carriers if c.enabled and c.classifier is not None)
        classes = await PatternSet.build([entry["regex"] for entry in classifiers])
        return cls(carriers, rules, owners, rule_ids, cid_rules, classifiers, classes, served)

    def classify(self, number: str) -> dict | None:
        """The first classifier whose regex matches the number (KAZOO's order), or None."""
        hits = self.classes.hits(number)
        return self.classifiers[min(hits)] if hits else None

    def is_emergency(self, number: str) -> bool:
        """Whether the number is in an emergency class (911, 933, 988 by default)."""
        classified = self.classify(number)
        return classified is not None and is_emergency(classified)

    def last_rules(self, number: str, tests: bool = False) -> tuple[dict[int, int], frozenset[int]]:
        """Per carrier with a matching rule, its last one (KAZOO tries the last rule first; with `tests` a carrier
        none of whose rules match is taken by its last matching test rule); and every distinct rule that matched."""
        hits = self.rules.hits(number)
        last: dict[int, int] = {}
        for hit in hits:
            for carrier, rule in self.owners[hit]:
                count = len(self.carriers[carrier].rules)
                if rule >= count and not tests:
                    continue
                held = last.get(carrier)
                if held is None or ((rule >= count) == (held >= count) and rule > held) or rule < count <= held:
                    last[carrier] = rule
        return last, frozenset(hits)


def _compiled(pattern: str):
    try:
        return regex.compile(pattern)
    except regex.PatternError:
        return None
