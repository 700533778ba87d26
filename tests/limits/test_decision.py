"""The decision for one carrier call, rule by rule in jonny5's order, and the public/private merge of the limits."""

from __future__ import annotations

import pytest

from cloudpbx.limits import rules
from cloudpbx.limits.decision import CarrierCall, Decision, decide, flat_rate_eligible
from cloudpbx.limits.rules import UNITS_PER_DOLLAR, Limits

US = "+14155550100"
NONE_USED: dict[str, int] = {}


def inbound(number: str = US, classification: str = "did_us") -> CarrierCall:
    return CarrierCall("inbound", number, classification)


def outbound(number: str = US, classification: str = "did_us") -> CarrierCall:
    return CarrierCall("outbound", number, classification)


NO_TRUNKS_NO_CREDIT = Limits(allow_prepay=True, allow_postpay=False)


def test_disabled_limits_allow_everything_as_limits_disabled():
    limits = Limits(enabled=False, calls=0)
    assert decide(limits, outbound(), NONE_USED, 0) == Decision(True, "limits_disabled")


@pytest.mark.parametrize("number", ["911", "933", "988"])
def test_emergency_is_never_limited(number):
    limits = Limits(calls=0, resource_consuming_calls=0)
    for call in (outbound(number, "emergency"), inbound(number, "emergency")):
        assert decide(limits, call, {"per_minute": 99}, 0) == Decision(True, "limits_disabled")


def test_outbound_toll_free_is_exempt_but_inbound_toll_free_is_not():
    toll_free = "+18005550100"
    assert decide(NO_TRUNKS_NO_CREDIT, outbound(toll_free, "tollfree_us"), NONE_USED, 0).billing == "limits_disabled"
    limits = Limits(inbound_trunks=5)
    refused = decide(limits, inbound(toll_free, "tollfree_us"), NONE_USED, 0)
    assert refused == Decision(False, "insufficient_balance"), "a toll-free number never takes a trunk"


def test_hard_limits_refuse_before_trunks_or_credit():
    rich = Limits(twoway_trunks=-1, allow_postpay=True, max_postpay_units=10**9)
    assert decide(Limits(calls=0, twoway_trunks=-1), outbound(), NONE_USED, 0) == Decision(False, "hard_limit")
    assert decide(Limits(calls=2, twoway_trunks=-1), outbound(), {"twoway": 1}, 0).allowed
    assert decide(Limits(calls=2, twoway_trunks=-1), outbound(), {"twoway": 1, "per_minute": 1}, 0) == Decision(
        False, "hard_limit"
    )
    limited = Limits(resource_consuming_calls=1, twoway_trunks=-1, allow_postpay=True, max_postpay_units=10**9)
    assert decide(limited, inbound(), {"limits_disabled": 1}, 0) == Decision(False, "hard_limit")
    assert decide(rich, inbound(), {"twoway": 500}, 0).allowed, "-1 is unlimited"


def test_flat_rate_only_for_us_and_canada_numbers_off_the_blacklist():
    assert flat_rate_eligible("+14155550100") and flat_rate_eligible("+16135550100")
    for number in ("+18885550100", "+18335550100", "+19005550100", "+18765550100", "+447911123456", "4155550100"):
        assert not flat_rate_eligible(number), number
    limits = Limits(outbound_trunks=3)
    assert decide(limits, outbound("+18765550100", "caribbean"), NONE_USED, 0) == Decision(
        False, "insufficient_balance"
    )
    assert decide(limits, outbound("+447911123456", "international"), NONE_USED, 0).allowed is False


def test_inbound_takes_inbound_then_twoway_then_burst():
    limits = Limits(inbound_trunks=1, outbound_trunks=5, twoway_trunks=1, burst_trunks=1)
    assert decide(limits, inbound(), NONE_USED, 0) == Decision(True, "flat_rate", "inbound")
    assert decide(limits, inbound(), {"inbound": 1}, 0) == Decision(True, "flat_rate", "twoway")
    assert decide(limits, inbound(), {"inbound": 1, "twoway": 1}, 0) == Decision(True, "flat_rate_burst", "burst")
    full = {"inbound": 1, "twoway": 1, "burst": 1}
    assert decide(limits, inbound(), full, 0) == Decision(False, "trunks_exhausted"), "outbound trunks stay unused"


def test_outbound_takes_outbound_then_twoway_then_burst():
    limits = Limits(inbound_trunks=5, outbound_trunks=1, twoway_trunks=1)
    assert decide(limits, outbound(), NONE_USED, 0).trunk == "outbound"
    assert decide(limits, outbound(), {"outbound": 1}, 0).trunk == "twoway"
    assert decide(limits, outbound(), {"outbound": 1, "twoway": 1}, 0) == Decision(False, "trunks_exhausted")


def test_per_minute_needs_credit_above_the_reserve_or_postpay():
    half = Limits().reserve_units
    assert half == UNITS_PER_DOLLAR // 2
    assert decide(Limits(), outbound(), NONE_USED, 0) == Decision(False, "trunks_exhausted")
    assert decide(Limits(), outbound(), NONE_USED, half + 1) == Decision(True, "per_minute")
    assert decide(Limits(allow_prepay=False), outbound(), NONE_USED, 10 * half).allowed is False
    postpay = Limits(allow_postpay=True, max_postpay_units=UNITS_PER_DOLLAR)
    assert decide(postpay, outbound("+447911123456", "international"), NONE_USED, 0) == Decision(True, "per_minute")
    assert decide(postpay, outbound(), NONE_USED, half - UNITS_PER_DOLLAR).allowed is False, "floor reached"
    trunks_first = Limits(outbound_trunks=1, allow_postpay=True, max_postpay_units=UNITS_PER_DOLLAR)
    assert decide(trunks_first, outbound(), NONE_USED, 0).billing == "flat_rate"
    assert decide(trunks_first, outbound(), {"outbound": 1}, 0).billing == "per_minute", "overflow to credit"


def test_soft_limits_let_a_refused_call_through_in_their_direction_only():
    soft_in = Limits(calls=0, soft_limit_inbound=True)
    assert decide(soft_in, inbound(), NONE_USED, 0) == Decision(True, "hard_limit", soft_limit=True)
    assert decide(soft_in, outbound(), NONE_USED, 0) == Decision(False, "hard_limit")
    soft_out = Limits(soft_limit_outbound=True)
    allowed = decide(soft_out, outbound(), NONE_USED, 0)
    assert allowed == Decision(True, "trunks_exhausted", soft_limit=True) and allowed.lease_kind == "soft_limit"
    assert decide(soft_out, inbound(), NONE_USED, 0).allowed is False


def test_a_call_has_a_direction():
    with pytest.raises(ValueError):
        CarrierCall("sideways", US, "did_us")


DEFAULTS = dict(rules.DEFAULTS)


def test_an_account_without_a_document_gets_the_defaults():
    assert rules.merge(None, DEFAULTS) == Limits()
    assert rules.merge(None, DEFAULTS | {"twoway_trunks": 3, "allow_postpay": True}).twoway_trunks == 3


def test_private_counts_cap_the_public_ones():
    merged = rules.merge(
        {
            "inbound_trunks": 10,
            "pvt_inbound_trunks": 4,  # the plan caps it
            "outbound_trunks": 2,
            "pvt_outbound_trunks": 8,  # the account asks for fewer
            "twoway_trunks": 5,
            "pvt_twoway_trunks": 0,  # the plan forbids
            "burst_trunks": 3,
            "pvt_burst_trunks": -1,  # the plan leaves it to the account
            "calls": -1,
            "pvt_calls": 20,
        },
        DEFAULTS,
    )
    assert (merged.inbound_trunks, merged.outbound_trunks, merged.twoway_trunks, merged.burst_trunks) == (4, 2, 0, 3)
    assert merged.calls == 20
    assert rules.merge({"pvt_twoway_trunks": 6}, DEFAULTS).twoway_trunks == 0, "the default of 0 is the public value"
    assert rules.merge({"twoway_trunks": -1, "pvt_twoway_trunks": 6}, DEFAULTS).twoway_trunks == 6
    assert rules.merge({"calls": -5}, DEFAULTS | {"calls": 7}).calls == 7, "a negative public call count is unset"


def test_the_providers_fields_are_read_private():
    merged = rules.merge(
        {
            "allow_postpay": True,  # a public copy never counts
            "pvt_max_postpay_amount": -2.5,
            "pvt_reserve_amount": 1,
            "pvt_soft_limit_inbound": True,
            "pvt_enabled": False,
            "allow_prepay": False,
        },
        DEFAULTS,
    )
    assert merged.allow_postpay is False and merged.max_postpay_units == 25_000 and merged.reserve_units == 10_000
    assert merged.soft_limit_inbound and not merged.soft_limit_outbound and merged.enabled is False
    assert merged.allow_prepay is False
