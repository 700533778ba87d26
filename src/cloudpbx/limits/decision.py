"""The decision for one carrier call against one account's limits (in KAZOO's `j5_authz_req` order): exemptions,
hard limits, flat-rate trunks, per-minute credit, soft limits. Pure: the caller supplies what is in use and the
credit, read under the lock that makes the count exact."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cloudpbx.limits.rules import Limits

INBOUND, OUTBOUND = "inbound", "outbound"
# Trunks serve US and Canadian numbers only; toll-free, premium (900) and Caribbean numbers never use one.
FLAT_RATE_WHITELIST = re.compile(r"^\+1\d{10}$")
FLAT_RATE_BLACKLIST = re.compile(
    r"^\+1(684|264|268|242|246|441|284|345|767|809|829|849|473|671|876|664|670|787|939|869|758|784|721|868|649|340"
    r"|900|800|888|877|866|855|844|833|822)\d{7}$"
)
# Which trunks a call of each direction tries, in order: its own kind, then two-way, then burst.
TRUNK_ORDER = {
    INBOUND: (("inbound", "inbound_trunks"), ("twoway", "twoway_trunks"), ("burst", "burst_trunks")),
    OUTBOUND: (("outbound", "outbound_trunks"), ("twoway", "twoway_trunks"), ("burst", "burst_trunks")),
}
# Billing classifications (as the CDR carries them) and denial reasons.
FLAT_RATE, FLAT_RATE_BURST, PER_MINUTE, LIMITS_DISABLED = (
    "flat_rate",
    "flat_rate_burst",
    "per_minute",
    "limits_disabled",
)
HARD_LIMIT, TRUNKS_EXHAUSTED, INSUFFICIENT_BALANCE = "hard_limit", "trunks_exhausted", "insufficient_balance"


@dataclass(frozen=True)
class CarrierCall:
    """What the decision needs of a call: its direction, the carrier-side number in E.164 and its classification;
    `emergency` when its class is an emergency one under any name, or its route an emergency carrier."""

    direction: str
    number: str
    classification: str
    emergency: bool = False

    def __post_init__(self) -> None:
        if self.direction not in TRUNK_ORDER:
            raise ValueError(f"direction must be {INBOUND} or {OUTBOUND}, not {self.direction!r}")


@dataclass(frozen=True)
class Decision:
    """`billing` is the CDR's classification when allowed, else the reason; `trunk` the kind of trunk taken."""

    allowed: bool
    billing: str
    trunk: str | None = None
    soft_limit: bool = False

    @property
    def lease_kind(self) -> str:
        """What the call is counted as while it lasts."""
        if self.trunk:
            return self.trunk
        return "soft_limit" if self.soft_limit else self.billing


def decide(limits: Limits, call: CarrierCall, in_use: Mapping[str, int], credit_units: int) -> Decision:
    """Authorize one call for one account, given its live leases by kind and its available credit (units)."""
    if not limits.enabled or _exempt(call):
        return Decision(True, LIMITS_DISABLED)
    total = sum(in_use.values())
    if _at_limit(limits.calls, total) or _at_limit(limits.resource_consuming_calls, total):
        return _soft_or_deny(limits, call, HARD_LIMIT)
    eligible = flat_rate_eligible(call.number)
    if eligible:
        trunk = _free_trunk(limits, call.direction, in_use)
        if trunk is not None:
            return Decision(True, FLAT_RATE_BURST if trunk == "burst" else FLAT_RATE, trunk)
    if per_minute_allowed(limits, credit_units):
        return Decision(True, PER_MINUTE)
    return _soft_or_deny(limits, call, TRUNKS_EXHAUSTED if eligible else INSUFFICIENT_BALANCE)


def _exempt(call: CarrierCall) -> bool:
    """Emergency calls are never limited (Kari's law), nor outbound toll-free ones."""
    if call.emergency or call.classification == "emergency":
        return True
    return call.direction == OUTBOUND and call.classification == "tollfree_us"


def _at_limit(limit: int, used: int) -> bool:
    return limit >= 0 and used >= limit


def flat_rate_eligible(number: str) -> bool:
    return bool(FLAT_RATE_WHITELIST.match(number)) and not FLAT_RATE_BLACKLIST.match(number)


def _free_trunk(limits: Limits, direction: str, in_use: Mapping[str, int]) -> str | None:
    for kind, field in TRUNK_ORDER[direction]:
        limit = getattr(limits, field)
        if limit < 0 or in_use.get(kind, 0) < limit:
            return kind
    return None


def per_minute_allowed(limits: Limits, credit_units: int) -> bool:
    """Prepay needs credit above the reserve; postpay may go down to `max_postpay_amount` below zero."""
    available = credit_units - limits.reserve_units
    if limits.allow_prepay and available > 0:
        return True
    return limits.allow_postpay and available > -limits.max_postpay_units


def _soft_or_deny(limits: Limits, call: CarrierCall, reason: str) -> Decision:
    soft = limits.soft_limit_inbound if call.direction == INBOUND else limits.soft_limit_outbound
    return Decision(soft, reason, soft_limit=soft)
