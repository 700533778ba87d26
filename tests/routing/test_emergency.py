"""Emergency numbers in the route decision (Kari's law, the 933 test call, emergency carriers first), over stored
carrier documents compiled in-process like the other decision tests."""

from __future__ import annotations

from cloudpbx.routing.decision import NO_ROUTE, Request, decide
from tests.routing.test_decision import US, carrier, chosen, pool

PLANS = (
    {"^(\\d{3})$": {"prefix": "+1415"}},  # device: three digits are a local short code
    {"^9(\\d+)$": {"prefix": ""}, "^(\\d{7})$": {"prefix": "+1212"}},  # account: 9 dials out
)


async def test_an_emergency_number_is_dialled_as_is_whatever_the_dial_plans():
    carriers = await pool(carrier("PSAP", [r"^(911|933|988)$"]), carrier("US", [US]), carrier("Any", [r"^\+(\d+)$"]))
    for number in ("911", "988"):
        decision = decide(carriers, Request(number, dial_plans=PLANS))
        assert decision.number == number and decision.emergency_number and decision.emergency
        assert [s[0] for s in decision.steps] == ["dialled", "emergency"]
        assert chosen(decision) == [("PSAP", f"sip:{number}@198.51.100.1")]
    ordinary = decide(carriers, Request("555", dial_plans=PLANS))
    assert ordinary.number == "+1415555" and not ordinary.emergency


async def test_a_dial_out_prefix_still_reaches_911_as_kazoos_dial_plans_do():
    carriers = await pool(carrier("PSAP", [r"^(911)$"]), carrier("Any", [r"^\+(\d+)$"]))
    decision = decide(carriers, Request("9911", dial_plans=PLANS))
    assert decision.number == "911" and decision.emergency_number
    assert decision.steps[1] == ("dial_plan", "911", "^9(\\d+)$")
    assert chosen(decision) == [("PSAP", "sip:911@198.51.100.1")]


async def test_short_dial_correction_never_completes_an_emergency_number():
    carriers = await pool(carrier("Five", [r"^(\d{5})$"]))
    unrouted = decide(carriers, Request("911", caller_id_number="12345"))
    assert unrouted.cause == NO_ROUTE and unrouted.number == "911"
    assert [s[0] for s in unrouted.steps] == ["dialled", "emergency"]
    assert chosen(decide(carriers, Request("567", caller_id_number="12345"))) == [("Five", "sip:12567@198.51.100.1")]


async def test_the_933_test_call_reaches_a_carriers_rules_test_and_is_marked_a_test():
    tester = carrier("Tester", [US], rules_test=[r"^\+{0,1}(933)$"], gateways=[{"server": "192.0.2.33"}])
    psap = carrier("PSAP", [r"^(911)$"], emergency=True, gateways=[{"server": "192.0.2.11"}])
    carriers = await pool(tester, psap)
    test = decide(carriers, Request("933"))
    assert test.test and test.emergency and chosen(test) == [("Tester", "sip:933@192.0.2.33")]
    explained = next(c for c in test.explain()["carriers"] if c["name"] == "Tester")
    assert explained["rules_test"] == [{"rule": r"^\+{0,1}(933)$", "matched": True}]
    assert test.explain()["test"] is True
    real = decide(carriers, Request("911"))
    assert not real.test and chosen(real) == [("PSAP", "sip:911@192.0.2.11")]


async def test_a_carrier_whose_rules_take_933_dials_by_its_rule_and_still_marks_the_test():
    both = carrier("Both", [r"^(9\d\d)$"], rules_test=[r"^933$"], gateways=[{"server": "192.0.2.9", "prefix": "00"}])
    decision = decide(await pool(both), Request("933"))
    assert decision.test and chosen(decision) == [("Both", "sip:00933@192.0.2.9")]
    assert not decide(await pool(both), Request("911")).test


async def test_test_rules_never_route_a_number_that_is_no_emergency():
    carriers = await pool(carrier("Tester", [r"^\+44(\d+)$"], rules_test=[r"^\+1(\d+)$"]))
    decision = decide(carriers, Request("+14155550100"))
    assert decision.cause == NO_ROUTE and not decision.test
    both = await pool(carrier("Both", [r"^\+1(\d+)$"], rules_test=[r"^\+1(\d+)$"]))
    assert not decide(both, Request("+14155550100")).test
    explained = decision.explain()["carriers"][0]
    assert explained["verdict"] == "no rule matched" and explained["rules_test"][0]["matched"] is False


async def test_emergency_carriers_take_an_emergency_call_first_whatever_their_weight():
    cheap = carrier("Cheap", [r"^(\d+)$"], weight_cost=1, gateways=[{"server": "192.0.2.1"}])
    psap = carrier("PSAP", [r"^(911)$"], weight_cost=90, emergency=True, gateways=[{"server": "192.0.2.2"}])
    mixed = carrier(
        "Mixed",
        [r"^(911)$"],
        weight_cost=50,
        gateways=[{"server": "192.0.2.3"}, {"server": "192.0.2.4", "emergency": True}],
    )
    carriers = await pool(cheap, psap, mixed)
    servers = [e.gateway.server for e in decide(carriers, Request("911")).endpoints]
    assert servers == ["192.0.2.4", "192.0.2.2", "192.0.2.1", "192.0.2.3"]
    ordinary = [e.gateway.server for e in decide(carriers, Request("4155")).endpoints]
    assert ordinary == ["192.0.2.1"]
