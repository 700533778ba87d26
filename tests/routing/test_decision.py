"""The outbound route decision over carriers (reference §9.2), one rule at a time, with the reference's examples.

Carriers are stored documents as the API saves them (schema defaults filled), compiled into a pool in-process:
the decision is a pure function of the pool and the request.
"""

from __future__ import annotations

import random

import pytest

from cloudpbx import schemas
from cloudpbx.numbers.classifiers import DEFAULT_CLASSIFIERS
from cloudpbx.routing.decision import NO_ROUTE, Request, decide
from cloudpbx.routing.pool import Pool

_ids = iter(range(1, 10_000))


def carrier(name: str, rules: list[str], servers: tuple[str, ...] = ("198.51.100.1",), **fields) -> dict:
    gateways = fields.pop("gateways", [{"server": server} for server in servers])
    doc, errors = schemas.validate("resources", {"name": name, "rules": rules, "gateways": gateways, **fields})
    assert not errors, errors
    doc["_id"] = f"{next(_ids):032x}"
    return doc


async def pool(*docs: dict, classifiers: list[dict] | None = None, is_global: bool = True) -> Pool:
    return await Pool.build(list(docs), classifiers or DEFAULT_CLASSIFIERS, is_global)


def chosen(decision) -> list[tuple[str, str]]:
    return [(e.carrier.name, e.dial_string) for e in decision.endpoints]


US = r"^\+1(\d{10})$"


async def test_the_number_is_normalised_to_e164_and_an_extension_stays_as_dialled():
    carriers = await pool(carrier("US", [US]), carrier("World", [r"^\+(\d{7,})$"]), carrier("Short", [r"^(911)$"]))
    national = decide(carriers, Request("4155550100"))
    assert national.number == "+14155550100"
    assert [s[:2] for s in national.steps] == [("dialled", "4155550100"), ("e164", "+14155550100")]
    assert chosen(national)[0] == ("US", "sip:4155550100@198.51.100.1")
    assert decide(carriers, Request("011442071838750")).number == "+442071838750"
    assert decide(carriers, Request("1 415")).number == "1 415"
    assert chosen(decide(carriers, Request("911"))) == [("Short", "sip:911@198.51.100.1")]
    assert decide(carriers, Request("4155550100", bypass_e164=True)).number == "4155550100"


async def test_the_nearest_dial_plan_applies_first_and_then_the_e164_converters():
    device = {"^(\\d{7})$": {"prefix": "+1415"}}
    account = {"^(\\d{7})$": {"prefix": "+1212"}, "^0(\\d+)$": {"prefix": "+44"}}
    carriers = await pool(carrier("Any", [r"^\+(\d+)$"]))
    local = decide(carriers, Request("5550100", dial_plans=(device, account)))
    assert local.number == "+14155550100"
    assert local.steps[1] == ("dial_plan", "+14155550100", "^(\\d{7})$")
    assert decide(carriers, Request("5550100", dial_plans=(account,))).number == "+12125550100"
    assert decide(carriers, Request("02071838750", dial_plans=(device, account))).number == "+442071838750"
    plain = decide(carriers, Request("6285550100", dial_plans=({"^(\\d{3})$": {"prefix": "9"}},)))
    assert [s[0] for s in plain.steps] == ["dialled", "e164"] and plain.number == "+16285550100"


async def test_the_last_rule_is_tried_first_and_its_longest_capture_is_the_number():
    carriers = await pool(carrier("Both", [r"^\+(1\d{10})$", US]))
    assert chosen(decide(carriers, Request("+14155550100"))) == [("Both", "sip:4155550100@198.51.100.1")]
    carriers = await pool(carrier("Both", [US, r"^\+(1\d{10})$"]))
    assert chosen(decide(carriers, Request("+14155550100"))) == [("Both", "sip:14155550100@198.51.100.1")]
    longest = await pool(carrier("Groups", [r"^\+(1)(\d{3})(\d{7})$"]), carrier("Whole", [r"^\+1\d{10}$"]))
    routes = chosen(decide(longest, Request("+14155550100")))
    assert ("Groups", "sip:5550100@198.51.100.1") in routes and ("Whole", "sip:+14155550100@198.51.100.1") in routes


async def test_the_988_recipe_dials_the_lifeline_number_through_the_prefix():
    lifeline = carrier(
        "988 Emergency",
        [r"^988(\d{0})$"],
        gateways=[{"server": "192.0.2.88", "prefix": "+18002738255", "codecs": ["PCMU"]}],
    )
    carriers = await pool(lifeline, carrier("US", [US]))
    decision = decide(carriers, Request("988"))
    assert chosen(decision) == [("988 Emergency", "sip:+18002738255@192.0.2.88")]
    assert decision.endpoints[0].matched == "" and decision.endpoints[0].gateway.codecs == ("PCMU",)
    assert decide(carriers, Request("9880")).cause == NO_ROUTE


async def test_cid_rules_must_match_the_caller_id_number_when_a_carrier_has_any():
    carriers = await pool(carrier("Bay", [US], cid_rules=[r"^\+1415"]), carrier("Open", [US], weight_cost=90))
    assert [c for c, _ in chosen(decide(carriers, Request("+12125550100", caller_id_number="+14155550199")))] == [
        "Bay",
        "Open",
    ]
    other = decide(carriers, Request("+12125550100", caller_id_number="+12125550199"))
    assert [c for c, _ in chosen(other)] == ["Open"]
    assert [c for c, _ in chosen(decide(carriers, Request("+12125550100")))] == ["Open"]
    bay = next(c for c in other.explain()["carriers"] if c["name"] == "Bay")
    assert bay["verdict"] == "the caller ID matches none of its cid_rules"


async def test_flags_require_flags_and_ignore_flags():
    carriers = await pool(
        carrier("Plain", [US], weight_cost=10),
        carrier("Fax", [US], flags=["fax"], weight_cost=20),
        carrier("Fax only", [US], flags=["fax"], require_flags=True, weight_cost=30),
        carrier("Any", [US], ignore_flags=True, weight_cost=40),
    )

    def names(request: Request) -> list[str]:
        return [name for name, _ in chosen(decide(carriers, request))]

    assert names(Request("+14155550100")) == ["Plain", "Fax", "Any"]
    assert names(Request("+14155550100", flags=("fax",))) == ["Fax", "Fax only", "Any"]
    assert names(Request("+14155550100", flags=("fax", "t38"))) == ["Any"]
    assert names(Request("+14155550100", flags=("",))) == ["Plain", "Fax", "Any"]  # empty flags are no flags


async def test_classifier_carriers_serve_their_class_and_plain_ones_the_rest():
    tollfree = carrier(
        "Classes",
        [],
        gateways=[{"server": "192.0.2.8", "prefix": "1"}],
        classifiers={"tollfree_us": {"prefix": "TF"}, "international": {"regex": r"^\+(44\d+)$", "weight_cost": 5}},
    )
    carriers = await pool(tollfree, carrier("Plain", [r"^\+(\d+)$"]))
    assert chosen(decide(carriers, Request("8005550100"))) == [("Classes - tollfree_us", "sip:TF8005550100@192.0.2.8")]
    assert chosen(decide(carriers, Request("+442071838750"))) == [
        ("Classes - international", "sip:1442071838750@192.0.2.8")
    ]
    assert decide(carriers, Request("+33142685300")).cause == NO_ROUTE  # a class served by classifiers, no match
    assert chosen(decide(carriers, Request("+14155550100"))) == [("Plain", "sip:14155550100@198.51.100.1")]
    off = await pool(
        carrier("Off", [], classifiers={"tollfree_us": {"enabled": False}}), carrier("Plain", [r"^\+(\d+)$"])
    )
    decision = decide(off, Request("+18005550100"))
    assert decision.cause == NO_ROUTE
    assert {c["name"]: c["verdict"] for c in decision.explain()["carriers"]} == {
        "Off - tollfree_us": "its classifier tollfree_us is disabled",
        "Plain": "classifier carriers serve class tollfree_us",
    }


async def test_weight_ascending_then_the_gateways_in_order():
    carriers = await pool(
        carrier("Dear", [US], ("192.0.2.1", "192.0.2.2"), weight_cost=80),
        carrier("Cheap", [US], ("192.0.2.3", "192.0.2.4"), weight_cost=10),
        carrier("Zero", [US], ("192.0.2.5",), weight_cost=0),  # clamped to 1, still first
    )
    assert [e.gateway.server for e in decide(carriers, Request("+14155550100")).endpoints] == [
        "192.0.2.5",
        "192.0.2.3",
        "192.0.2.4",
        "192.0.2.1",
        "192.0.2.2",
    ]


async def test_random_gateways_are_shuffled_per_decision():
    servers = tuple(f"192.0.2.{i}" for i in range(1, 9))
    carriers = await pool(carrier("Random", [US], servers, gateway_strategy="random"))
    orders = {
        tuple(e.gateway.server for e in decide(carriers, Request("+14155550100"), random.Random(seed)).endpoints)
        for seed in range(5)
    }
    assert len(orders) > 1 and all(sorted(order) == sorted(servers) for order in orders)


@pytest.mark.parametrize(
    ("gateway", "dialled"),
    [
        ({"prefix": "99#", "suffix": "*1"}, "sip:99#4155550100*1@gw.example.net"),
        ({"port": 5080}, "sip:4155550100@gw.example.net:5080"),
        ({"invite_format": "e164"}, "sip:+14155550100@gw.example.net"),
        ({"invite_format": "npan"}, "sip:4155550100@gw.example.net"),
        ({"invite_format": "1npan"}, "sip:14155550100@gw.example.net"),
        ({"invite_format": "strip_plus"}, "sip:14155550100@gw.example.net"),
        ({"invite_format": "username", "username": "trunk7"}, "sip:trunk7@gw.example.net"),
        ({"route": "sip:fixed@203.0.113.9:5070"}, "sip:fixed@203.0.113.9:5070"),
    ],
)
async def test_the_dial_string_of_each_gateway(gateway, dialled):
    carriers = await pool(carrier("GW", [US], gateways=[{"server": "gw.example.net", **gateway}]))
    assert [d for _, d in chosen(decide(carriers, Request("+14155550100")))] == [dialled]


async def test_emergency_carriers_and_gateways_mark_the_decision():
    carriers = await pool(
        carrier("PSAP", [r"^(911|933)$"], emergency=True),
        carrier("Classes", [], classifiers={"emergency": {}}, gateways=[{"server": "192.0.2.11"}]),
        carrier("US", [US], gateways=[{"server": "192.0.2.12"}, {"server": "192.0.2.13", "emergency": True}]),
    )
    e911 = decide(carriers, Request("911"))
    assert e911.classification == "emergency" and e911.emergency
    assert [(e.carrier.name, e.emergency) for e in e911.endpoints] == [("Classes - emergency", True)]
    us = decide(carriers, Request("+14155550100"))
    assert [e.emergency for e in us.endpoints] == [False, True]


async def test_nothing_matching_is_no_route_destination_and_disabled_carriers_and_gateways_are_skipped():
    carriers = await pool(
        carrier("Off", [US], enabled=False),
        carrier("Gateways off", [US], gateways=[{"server": "192.0.2.1", "enabled": False}, {"server": "192.0.2.2"}]),
    )
    decision = decide(carriers, Request("+14155550100"))
    assert [e.gateway.server for e in decision.endpoints] == ["192.0.2.2"]
    assert decide(carriers, Request("+442071838750")).cause == NO_ROUTE
    assert decide(await pool(), Request("+14155550100")).cause == NO_ROUTE


async def test_the_explanation_names_every_carrier_every_rule_and_every_dial_string():
    carriers = await pool(
        carrier("US", [r"^\+1(900\d{7})$", US], weight_cost=10),
        carrier("UK", [r"^\+(44\d+)$"], weight_cost=20),
        carrier("Flagged", [US], require_flags=True, weight_cost=30),
    )
    explained = decide(carriers, Request("4155550100")).explain()
    assert explained["number"] == "+14155550100" and explained["cause"] is None
    assert explained["classification"] == "did_us"
    by_name = {c["name"]: c for c in explained["carriers"]}
    assert by_name["US"]["verdict"] == "chosen"
    assert [r["matched"] for r in by_name["US"]["rules"]] == [False, True]
    assert by_name["UK"]["verdict"] == "no rule matched" and by_name["UK"]["rules"] == [
        {"rule": r"^\+(44\d+)$", "matched": False}
    ]
    assert by_name["Flagged"]["verdict"] == "requires flags and the call carries none"
    assert [(e["carrier_name"], e["dial_string"]) for e in explained["endpoints"]] == [
        ("US", "sip:4155550100@198.51.100.1")
    ]


async def test_a_number_dialled_short_is_completed_from_the_caller_id_unless_its_class_is_denied():
    carriers = await pool(carrier("US", [US]))
    local = Request("5550100", caller_id_number="+14155550199")
    decision = decide(carriers, local)
    assert decision.number == "+14155550100" and decision.steps[-1] == ("shortdial", "+14155550100", None)
    assert chosen(decision) == [("US", "sip:4155550100@198.51.100.1")]
    denied = Request("5550100", caller_id_number="+14155550199", denied_classes=frozenset({"did_us"}))
    assert decide(carriers, denied).cause == NO_ROUTE
    assert decide(carriers, Request("100", caller_id_number="+14155550199")).cause == NO_ROUTE  # 8 digits short
    assert decide(carriers, Request("5550100")).cause == NO_ROUTE  # no caller ID to complete it from
