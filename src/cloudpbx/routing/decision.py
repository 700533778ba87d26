"""The outbound route decision (KAZOO's `stepswitch_resources:endpoints/2`, reference §9.2): a pure function of
a compiled pool and a request, returning every step so that a route explanation prints the very decision a call
makes.

Steps: the caller's dial plans, then the E.164 converters (unless `bypass_e164`); the number's class; for every
carrier with a matching rule, in pool order (weight ascending): enabled, flags (no request flags drops carriers
that `require_flags`; otherwise a carrier needs every request flag unless it `ignore_flags`), number class (when
enabled classifier carriers serve the class only they are used, else only carriers without classifiers), its
rules (the last matching rule wins; its value is the longest capture, or the whole match without groups), its
`cid_rules` against the caller ID number; then each gateway of each chosen carrier, in order (shuffled for the
`random` strategy), with its dial string. When nothing is chosen, short-dial correction: the leading digits of the
caller ID fill in a number dialled 2 to 5 digits short (not into a class the caller is denied), and the decision
is made again; still nothing is `NO_ROUTE_DESTINATION`.

Emergency numbers (Kari's law): a number dialled in an emergency class (911, 933, 988) goes out as dialled, past
every dial plan; a dial plan may still turn a number into one (KAZOO's "9911" dial-out prefix). Its carriers'
`rules_test` (the 933 test call) mark the decision a test and take it when none of their rules do; carriers or gateways
flagged `emergency` are tried first; short-dial correction never completes one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudpbx.numbers.classifiers import is_emergency, normalize
from cloudpbx.numbers.dial_plans import apply_dial_plan
from cloudpbx.routing.carriers import Carrier, Gateway
from cloudpbx.routing.dialstring import dial_string, redacted_dial_string
from cloudpbx.routing.pool import Pool

NO_ROUTE = "NO_ROUTE_DESTINATION"
SHORTDIAL = (2, 5)  # how many leading digits short-dial correction may fill in (KAZOO's min and max)
_RNG = random.Random()  # the order of gateways of carriers with the `random` strategy
CHOSEN = "chosen"


@dataclass(frozen=True, slots=True)
class Request:
    number: str  # as dialled
    dial_plans: tuple[Mapping[str, Any], ...] = ()  # the caller's, nearest first: device, user, account
    flags: tuple[str, ...] = ()  # outbound flags of the callflow, device and user
    caller_id_number: str | None = None  # for carriers' cid_rules and short-dial correction
    bypass_e164: bool = False
    denied_classes: frozenset[str] = frozenset()  # number classes the caller may not call


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One gateway to try, in order: what the outbound SIP leg to it needs."""

    carrier: Carrier
    gateway: Gateway
    matched: str  # the number the carrier's rule captured
    dial_string: str  # the Request-URI
    emergency: bool


@dataclass(frozen=True, slots=True)
class Decision:
    request: Request
    number: str  # the destination the rules saw
    steps: tuple[tuple[str, str, str | None], ...]  # (step, number after it, the dial plan rule that applied)
    classification: str
    endpoints: tuple[Endpoint, ...]
    pool: Pool
    last_rules: dict[int, int] = field(repr=False)  # carrier index → its last matching rule (else test rule)
    rule_hits: frozenset[int] = field(repr=False)  # every distinct rule of the pool that matched
    emergency_number: bool = False  # the number is in an emergency class
    test: bool = False  # an emergency test call: the number matches a `rules_test` of a chosen carrier

    @property
    def cause(self) -> str | None:
        return None if self.endpoints else NO_ROUTE

    @property
    def emergency(self) -> bool:
        """An emergency call: an emergency number, or one leaving through an emergency carrier or gateway."""
        return self.emergency_number or any(endpoint.emergency for endpoint in self.endpoints)

    def explain(self, platform_view: bool = True) -> dict[str, Any]:
        """The decision as data: steps, class, every carrier of the pool with its verdict and each of its rules
        matched or not, and the endpoints in order with their dial strings. Without `platform_view` the global
        carriers' gateways hide where they are (see `_endpoint`)."""
        carriers = []
        for index, carrier in enumerate(self.pool.carriers):
            ids, count = self.pool.rule_ids[index], len(carrier.rules)
            carriers.append(
                {
                    "id": carrier.id,
                    "name": carrier.name,
                    "global": carrier.is_global,
                    "weight_cost": carrier.weight,
                    "classifier": carrier.classifier,
                    "verdict": verdict(self, index),
                    "rules": [
                        {"rule": rule, "matched": carrier.enabled and ids[i] in self.rule_hits}
                        for i, rule in enumerate(carrier.rules)
                    ],
                    "rules_test": [
                        {"rule": rule, "matched": self.emergency_number and ids[count + i] in self.rule_hits}
                        for i, rule in enumerate(carrier.rules_test if carrier.enabled else ())
                    ],
                }
            )
        return {
            "dialled": self.request.number,
            "number": self.number,
            "steps": [{"step": step, "number": number, "rule": rule} for step, number, rule in self.steps],
            "classification": self.classification,
            "emergency": self.emergency,
            "test": self.test,
            "cause": self.cause,
            "carriers": carriers,
            "endpoints": [_endpoint(e, platform_view) for e in self.endpoints],
        }


def _endpoint(e: Endpoint, platform_view: bool) -> dict[str, Any]:
    """One endpoint as data. A global carrier's gateway is the platform's configuration: outside the platform's
    view its server, port and dial string host are left out (its carrier, rule and number sent are kept). An
    account's own carriers are its admins' to see. No password is ever shown."""
    hidden = e.carrier.is_global and not platform_view
    return {
        "carrier_id": e.carrier.id,
        "carrier_name": e.carrier.name,
        "gateway": e.gateway.index,
        "server": None if hidden else e.gateway.server,
        "port": None if hidden else e.gateway.port,
        "matched": e.matched,
        "dial_string": redacted_dial_string(e.gateway, e.matched) if hidden else e.dial_string,
        "emergency": e.emergency,
        "redacted": hidden,
    }


def normalised(request: Request, pool: Pool | None = None) -> tuple[str, tuple[tuple[str, str, str | None], ...]]:
    """The destination the rules see, and how it came to be; an emergency number as dialled (Kari's law)."""
    steps: list[tuple[str, str, str | None]] = [("dialled", request.number, None)]
    if pool is not None and pool.is_emergency(request.number):
        return request.number, (*steps, ("emergency", request.number, None))
    number, rule = apply_dial_plan(request.number, request.dial_plans)
    if rule is not None:
        steps.append(("dial_plan", number, rule))
    if not request.bypass_e164:
        e164 = normalize(number)
        if e164 != number:
            steps.append(("e164", e164, None))
        number = e164
    return number, tuple(steps)


def decide(pool: Pool, request: Request, rng: random.Random | None = None) -> Decision:
    number, steps = normalised(request, pool)
    decision = _decided(pool, request, number, steps, rng)
    corrected = None if decision.endpoints or decision.emergency_number else _shortdial(pool, request, number)
    if corrected is None:
        return decision
    retried = _decided(pool, request, corrected, (*steps, ("shortdial", corrected, None)), rng)
    return retried if retried.endpoints else decision


def _shortdial(pool: Pool, request: Request, number: str) -> str | None:
    """The number with the caller ID's leading digits filled in, when it is 2 to 5 digits shorter."""
    caller = (request.caller_id_number or "").removeprefix("+")
    digits = number.removeprefix("+")
    missing = len(caller) - len(digits)
    if not caller or not SHORTDIAL[0] <= missing <= SHORTDIAL[1]:
        return None
    corrected = normalize(caller[:missing] + digits)
    classified = pool.classify(corrected)
    return None if classified and classified["name"] in request.denied_classes else corrected


def _decided(pool: Pool, request: Request, number: str, steps: tuple, rng: random.Random | None) -> Decision:
    classified = pool.classify(number)
    urgent = classified is not None and is_emergency(classified)
    last, hits = pool.last_rules(number, tests=urgent)
    name = classified["name"] if classified else "unknown"
    decision = Decision(request, number, steps, name, (), pool, last, hits, urgent)
    endpoints: list[Endpoint] = []
    captured: dict[int, str] = {}  # per distinct rule: carriers often share one
    chosen = [index for index in sorted(last) if verdict(decision, index) == CHOSEN]
    for index in chosen:
        endpoints.extend(_endpoints(pool.carriers[index], matched(decision, index, captured), rng))
    if not endpoints:
        return decision
    if urgent:  # emergency-capable carriers and gateways first, each group in its order
        endpoints.sort(key=lambda endpoint: not endpoint.emergency)
    test = urgent and any(set(pool.rule_ids[index][len(pool.carriers[index].rules) :]) & hits for index in chosen)
    return Decision(request, number, steps, name, tuple(endpoints), pool, last, hits, urgent, test)


def verdict(decision: Decision, index: int) -> str:
    """Why a carrier of the pool is chosen or not: `chosen`, or the first test it fails."""
    carrier, request = decision.pool.carriers[index], decision.request
    if not carrier.enabled:
        return "disabled"
    flags = [flag for flag in request.flags if flag]
    if not flags and carrier.require_flags:
        return "requires flags and the call carries none"
    if flags and not carrier.ignore_flags and not carrier.flags.issuperset(flags):
        return f"lacks flags {sorted(set(flags) - carrier.flags)}"
    cls = decision.classification
    if carrier.classifier is None and cls in decision.pool.served:
        return f"classifier carriers serve class {cls}"
    if carrier.classifier is not None and carrier.classifier != cls:
        return f"serves class {carrier.classifier}, the number is {cls}"
    if carrier.classifier is not None and not carrier.classifier_enabled:
        return f"its classifier {cls} is disabled"
    if index not in decision.last_rules:
        return "no rule matched"
    if decision.pool.cid_rules[index] and not _caller_id_matches(decision.pool.cid_rules[index], request):
        return "the caller ID matches none of its cid_rules"
    return CHOSEN


def matched(decision: Decision, index: int, captured: dict[int, str] | None = None) -> str:
    """What the carrier's last matching rule captured: its longest group (the last of equal ones), or the whole
    match when it has none. `captured` keeps what each distinct rule captured within one decision."""
    rule = decision.pool.rule_ids[index][decision.last_rules[index]]
    if captured is not None and rule in captured:
        return captured[rule]
    spans = decision.pool.rules.captures(rule, decision.number)
    value = decision.number if spans is None else _longest(spans)
    if captured is not None:
        captured[rule] = value
    return value


def _longest(spans: tuple[str, ...]) -> str:
    if len(spans) == 1:
        return spans[0]
    best = ""
    for group in spans[1:]:
        if len(group) >= len(best):
            best = group
    return best


def _caller_id_matches(rules: list, request: Request) -> bool:
    number = request.caller_id_number
    return number is not None and any(rule is not None and rule.search(number) for rule in rules)


def _endpoints(carrier: Carrier, number: str, rng: random.Random | None) -> list[Endpoint]:
    gateways = list(carrier.gateways)
    if carrier.random_gateways:
        (rng or _RNG).shuffle(gateways)
    return [Endpoint(carrier, gateway, number, dial_string(gateway, number), gateway.emergency) for gateway in gateways]
