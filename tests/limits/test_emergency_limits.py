"""Emergency calls are never limited, whatever their class is named: an operator's classifier with `emergency: true`
(a "crisis" class for 988, say) or a call routed to an emergency carrier is exempt like the `emergency` class."""

from __future__ import annotations

from cloudpbx.limits.decision import CarrierCall, Decision, decide
from cloudpbx.limits.rules import Limits

NOTHING = Limits(calls=0, resource_consuming_calls=0, allow_prepay=False, allow_postpay=False)


def test_an_emergency_call_of_any_class_name_passes_zero_trunks_zero_calls_and_no_credit():
    for direction in ("outbound", "inbound"):
        crisis = CarrierCall(direction, "988", "crisis", emergency=True)
        assert decide(NOTHING, crisis, {"twoway": 5}, 0) == Decision(True, "limits_disabled")
    psap = CarrierCall("outbound", "+14155550911", "did_us", emergency=True)
    assert decide(NOTHING, psap, {}, 0) == Decision(True, "limits_disabled")
    assert decide(NOTHING, CarrierCall("outbound", "+14155550911", "did_us"), {}, 0).allowed is False
