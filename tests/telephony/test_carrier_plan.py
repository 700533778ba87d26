"""Calls placed by the route plan: a pjsua2 phone dials out through the account's default `no_match` callflow (the
`offnet` action), the plan decides (restrictions, on-net, carriers, trunk limits, emergency handling) and SIPp
gateways on their own loopback addresses receive what the plan chose. Emergency calls (911, 933, 988) present the
account's E911 number or are refused 486, and raise the `emergency_bridge` alert; route explain, asked before the
call, names the outcome and the very gateway the call then reached."""

from __future__ import annotations

import secrets
from contextlib import ExitStack
from urllib.parse import quote

from tests.api.test_phone_numbers import E911, add, block
from tests.callflow.test_emergency import alert_ids, stepswitch
from tests.sip.phones import phones, wait_until  # noqa: F401 - phones is a fixture
from tests.telephony.test_calls import legs_of, new_device, registered, ring_device
from tests.telephony.test_carrier_inbound import carrier_calls, cleanup, world  # noqa: F401 - fixtures
from tests.telephony.test_carrier_outbound import (
    add_carrier,
    caller,
    carrier_sipp,
    channel_vars,
    gateway,
    head,
    invites,
    talk_and_hang_up,
    tenant,
    usage,
)
from tests.telephony.test_restrictions import deny

EVERY_CLASS = ("tollfree_us", "toll_us", "emergency", "caribbean", "did_us", "international", "unknown")
PSAP_RULES = [r"^(911)$"]
LIFELINE = "+18002738255"


def global_carrier(master, office, stack: ExitStack, rules: list[str], sipp, **fields) -> str:
    """A global carrier with one gateway (its fields in `gw`), deleted when `stack` closes (other tests share the
    global pool)."""
    carrier_id = add_carrier(master, office, rules, [gateway(sipp, **fields.pop("gw", {}))], local=False, **fields)
    stack.callback(lambda: master.delete(f"resources/{carrier_id}"))
    return carrier_id


def explain(master, office, number: str, device_id: str) -> dict:
    resp = master.get(f"accounts/{office.id}/route_explain?number={quote(number)}&device_id={device_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def explained_gateway(plan: dict) -> tuple[str, int]:
    """The first gateway the explanation says the call will try."""
    first = plan["route"]["endpoints"][0]
    return first["server"], first["port"]


def emergency_alerts(master, office, call_id: str) -> list[dict]:
    """The emergency_bridge alerts of the account raised for `call_id` (the account also sees alerts for everyone,
    written by other tests, which have no category)."""
    found = []
    for alert_id in alert_ids(master, office.id):
        alert = master.get(f"accounts/{office.id}/alerts/{alert_id}").json()["data"]
        if alert.get("category") == "emergency_bridge" and alert["metadata"]["call_id"] == call_id:
            found.append(alert)
    return found


def outbound_leg(master, office, call_id: str) -> dict:
    [leg] = [leg for leg in legs_of(master, office, call_id) if leg["direction"] == "outbound"]
    return leg


def test_911_presents_the_accounts_e911_number_without_privacy_and_raises_the_alert(phones, master, server):
    office = tenant(master, server)
    [located] = block()
    add(master, office.id, located, e911=E911)
    phone = caller(master, office, phones)
    device = phone_device(master, office)
    hidden = {"caller_id_options": {"outbound_privacy": "full"}}
    assert master.patch(f"accounts/{office.id}/devices/{device}", hidden).status_code == 200
    with ExitStack() as stack:
        psap = carrier_sipp("uas_answer.xml", stack)
        carrier_id = global_carrier(master, office, stack, PSAP_RULES, psap, emergency=True)
        plan = explain(master, office, "911", device)
        assert plan["outcome"] == "carriers" and explained_gateway(plan) == (psap.host, psap.port)
        out = phone.call("911")
        talk_and_hang_up(master, office, phone, out)
    [invite] = invites(psap)
    assert invite.startswith(f"INVITE sip:911@{psap.host}:{psap.port} "), invite
    assert f"sip:{located}@" in head(invite, "from") and f"sip:{located}@" in head(invite, "p-asserted-identity")
    assert "\nprivacy:" not in invite.lower(), "privacy is never applied to an emergency call"
    leg = outbound_leg(master, office, out.call_id)
    carried = channel_vars(master, office, leg)
    assert carried["resource_id"] == carrier_id and carried["emergency_call"] == "true"
    assert carried["emergency_cid_valid"] == "true"
    [alert] = emergency_alerts(master, office, out.call_id)
    meta = alert["metadata"]
    assert (meta["dialled"], meta["caller_id_number"], meta["test"]) == ("911", located, False)
    assert meta["address"]["street_address"] == E911["street_address"] and alert["title"] == "Emergency call"


def phone_device(master, office) -> str:
    """The id of the office's only device (the caller's)."""
    [device] = master.get(f"accounts/{office.id}/devices").json()["data"]
    return device["id"]


def test_911_without_an_e911_number_goes_out_flagged_unless_invalid_ids_are_denied(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    with ExitStack() as stack:
        psap = carrier_sipp("uas_answer.xml", stack)
        global_carrier(master, office, stack, PSAP_RULES, psap, emergency=True)
        flagged = phone.call("911")
        talk_and_hang_up(master, office, phone, flagged)
        with stepswitch(master, deny_invalid_emergency_cid=True):
            refused = phone.call("911").wait("DISCONNECTED")
    assert len(invites(psap)) == 1, "the refused call never reached the carrier"
    assert "sip:+14155550100@" in head(invites(psap)[0], "from"), "the best caller ID known"
    carried = channel_vars(master, office, outbound_leg(master, office, flagged.call_id))
    assert (carried["emergency_call"], carried["emergency_cid_valid"]) == ("true", "false")
    assert (refused.code, refused.reason) == (486, "Emergency service not configured")
    [leg] = legs_of(master, office, refused.call_id, count=1)
    assert channel_vars(master, office, leg)["emergency_cid_valid"] == "false"
    [alert] = emergency_alerts(master, office, refused.call_id)
    assert alert["metadata"]["refused"] is True


def test_911_reaches_the_emergency_carrier_past_every_denied_class_and_zero_trunks(phones, master, server):
    office = tenant(master, server, twoway_trunks=0)
    assert master.patch(f"accounts/{office.id}", {"call_restriction": deny(*EVERY_CLASS)}).status_code == 200
    phone = caller(master, office, phones)
    device = phone_device(master, office)
    with ExitStack() as stack:
        psap = carrier_sipp("uas_answer.xml", stack)
        other = carrier_sipp("uas_answer.xml", stack)
        global_carrier(master, office, stack, [r"^\+1(\d{10})$"], other, weight_cost=1)
        global_carrier(master, office, stack, PSAP_RULES, psap, emergency=True, weight_cost=90)
        plan = explain(master, office, "911", device)
        assert plan["outcome"] == "carriers" and plan["limits"]["allowed"] is True
        assert explained_gateway(plan) == (psap.host, psap.port)
        out = phone.call("911")
        talk_and_hang_up(master, office, phone, out)
        barred = phone.call("+14155550188").wait("DISCONNECTED")
    assert (len(invites(psap)), len(invites(other))) == (1, 0)
    assert barred.code == 403, "other numbers stay barred"
    assert emergency_alerts(master, office, out.call_id)


def test_933_reaches_a_carriers_rules_test_and_its_alert_says_test(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    device = phone_device(master, office)
    digits = f"5553{secrets.randbelow(10**6):06d}"
    with ExitStack() as stack:
        tester = carrier_sipp("uas_answer.xml", stack)
        global_carrier(master, office, stack, [f"^\\+1({digits})$"], tester, rules_test=[r"^\+{0,1}(933)$"])
        plan = explain(master, office, "933", device)
        assert plan["outcome"] == "carriers" and plan["route"]["test"] is True
        assert explained_gateway(plan) == (tester.host, tester.port)
        out = phone.call("933")
        talk_and_hang_up(master, office, phone, out)
    [invite] = invites(tester)
    assert invite.startswith(f"INVITE sip:933@{tester.host}:{tester.port} "), invite
    [alert] = emergency_alerts(master, office, out.call_id)
    assert alert["metadata"]["test"] is True and alert["title"] == "Emergency test call"


def test_the_988_recipe_reaches_the_lifeline_number_with_pcmu_only(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    device = phone_device(master, office)
    with ExitStack() as stack:
        lifeline = carrier_sipp("uas_answer.xml", stack)
        recipe = {"name": "988 Emergency", "emergency": True, "gw": {"prefix": LIFELINE, "codecs": ["PCMU"]}}
        global_carrier(master, office, stack, [r"^988(\d{0})$"], lifeline, **recipe)
        plan = explain(master, office, "988", device)
        assert plan["outcome"] == "carriers" and plan["route"]["endpoints"][0]["dial_string"].startswith(
            f"sip:{LIFELINE}@"
        )
        assert explained_gateway(plan) == (lifeline.host, lifeline.port)
        out = phone.call("988")
        talk_and_hang_up(master, office, phone, out)
    [invite] = invites(lifeline)
    assert invite.startswith(f"INVITE sip:{LIFELINE}@{lifeline.host}:{lifeline.port} "), invite
    codecs = {line.split()[1].split("/")[0] for line in invite.splitlines() if line.startswith("a=rtpmap:")}
    assert codecs == {"PCMU", "telephone-event"}
    assert emergency_alerts(master, office, out.call_id)


def test_international_restricted_at_user_level_is_barred_before_any_carrier(phones, master, server):
    office = tenant(master, server)
    user = master.create(office.id, "users", {"first_name": "No", "last_name": "Abroad"})
    restricted = {"call_restriction": deny("international")}
    assert master.patch(f"accounts/{office.id}/users/{user['id']}", restricted).status_code == 200
    device = new_device(master, office, "abroad", owner_id=user["id"])
    phone = registered(phones, office, device)
    with ExitStack() as stack:
        world = carrier_sipp("uas_answer.xml", stack)
        global_carrier(master, office, stack, [r"^\+(44\d+)$"], world)
        plan = explain(master, office, "+442079460000", device.id)
        assert plan["outcome"] == "barred" and plan["restrictions"]["levels"]["owner"] == "deny"
        out = phone.call("+442079460000").wait("DISCONNECTED")
    assert out.code == 403, (out.code, out.reason)
    assert invites(world) == []
    [leg] = legs_of(master, office, out.call_id, count=1)
    assert leg["hangup_cause"] == "OUTGOING_CALL_BARRED"


def test_a_number_held_by_another_account_is_delivered_inside_with_no_trunk(phones, master, server):
    office, holder = tenant(master, server), tenant(master, server)
    [number] = block()
    add(master, holder.id, number)
    callee_dev = new_device(master, holder, "callee")
    resp = master.put(f"accounts/{holder.id}/callflows", {"numbers": [number], "flow": ring_device(callee_dev)})
    assert resp.status_code == 201, resp.text
    phone, callee = caller(master, office, phones), registered(phones, holder, callee_dev)
    device = phone_device(master, office)
    with ExitStack() as stack:
        outside = carrier_sipp("uas_answer.xml", stack)
        global_carrier(master, office, stack, [r"^\+1(\d{10})$"], outside)
        plan = explain(master, office, number, device)
        assert plan["outcome"] == "on_net" and plan["on_net"]["account_id"] is None, "another tenant is not named"
        out = phone.call(number)
        callee.answer()
        out.wait("CONFIRMED")
        assert usage(master, office)["calls"] == usage(master, holder)["calls"] == 0
        phone.hangup()
        out.wait("DISCONNECTED")
    assert invites(outside) == []
    [leg] = legs_of(master, office, out.call_id, count=1)
    assert leg["hangup_cause"] == "NORMAL_CLEARING"


def test_a_number_whose_holder_routes_it_back_out_ends_as_no_route_instead_of_looping(phones, master, server):
    office, holder = tenant(master, server), tenant(master, server)
    [number] = block()
    add(master, holder.id, number)
    resp = master.put(f"accounts/{holder.id}/callflows", {"numbers": [number], "flow": {"module": "offnet"}})
    assert resp.status_code == 201, resp.text
    phone = caller(master, office, phones)
    with ExitStack() as stack:
        outside = carrier_sipp("uas_answer.xml", stack)
        global_carrier(master, office, stack, [r"^\+1(\d{10})$"], outside)
        out = phone.call(number).wait("DISCONNECTED")
    assert out.code == 404, (out.code, out.reason)
    assert invites(outside) == []
    [leg] = legs_of(master, office, out.call_id, count=1)
    assert leg["hangup_cause"] == "NO_ROUTE_DESTINATION"
    assert usage(master, office)["calls"] == usage(master, holder)["calls"] == 0


def test_a_carrier_call_forwarded_out_holds_an_inbound_and_an_outbound_trunk(phones, world, master):
    """The forward's outbound trunk is its own lease: taking it keeps the inbound call's trunk, and giving it back
    when the forward fails leaves the inbound trunk held until the carrier's call ends."""
    [number, outside] = block(2)
    add(master, world.id, number)
    device = new_device(master, world, "fallback")
    with ExitStack() as stack:
        silent = carrier_sipp("uas_no_answer.xml", stack)
        add_carrier(master, world, [f"^\\{outside}$"], [gateway(silent)])
        forward = {
            "module": "resources",
            "data": {"to_did": outside, "timeout": 2},
            "children": {"_": ring_device(device)},
        }
        resp = master.put(f"accounts/{world.id}/callflows", {"numbers": [number], "flow": forward})
        assert resp.status_code == 201, resp.text
        phone = registered(phones, world, device)
        with carrier_calls(world, number) as carrier:
            wait_until(lambda: len(invites(silent)) == 1, 5.0, "the forward to reach the carrier")
            assert usage(master, world)["calls"] == 2, "an inbound and an outbound trunk"
            phone.wait_incoming(10.0).answer()
            wait_until(lambda: usage(master, world)["calls"] == 1, 5.0, "the forward's trunk given back")
            assert usage(master, world)["inbound"] == 1, "the carrier's call keeps its inbound trunk"
            phone.hangup()
            wait_until(lambda: carrier.proc.poll() is not None, 10.0, "the carrier's call to end")
    wait_until(lambda: usage(master, world)["calls"] == 0, 5.0, "every trunk given back")
