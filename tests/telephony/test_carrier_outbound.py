"""Calls out through carriers: a pjsua2 phone registered as a device dials a number, the `offnet`/`resources`
callflow actions route it over the global carriers or the account's own, and SIPp gateways on their own loopback
addresses (127.0.0.2, .3, ...) answer, refuse, challenge or wait. The tests read what each gateway received (its
Request-URI, From, P-Asserted-Identity, headers), which gateways were tried in which order, what the caller heard,
the CDRs of every leg and the trunks in use."""

from __future__ import annotations

import itertools
import re
import secrets
from contextlib import ExitStack
from types import SimpleNamespace

import pytest

from tests.helpers import unique
from tests.sip.phones import phones, pump, wait_until  # noqa: F401 - phones is a fixture
from tests.sip.sipp import Sipp
from tests.telephony.test_calls import legs_of, new_device, phone_office, registered

_hosts = itertools.count()
CALLER_ID = {"external": {"name": "Acme Sales", "number": "+14155550100"}, "internal": {"number": "2001"}}


def gateway_host() -> str:
    """A loopback address of its own for each gateway: 127.0.0.2, 127.0.0.3, ..."""
    n = next(_hosts)
    return f"127.0.{n // 250}.{n % 250 + 2}"


def carrier_sipp(scenario: str, stack: ExitStack, **keys: str) -> Sipp:
    """A SIPp gateway running `scenario` on a loopback address of its own, stopped when `stack` closes."""
    return stack.enter_context(Sipp(scenario, host=gateway_host(), keys=keys, trace=True, tick=pump))


def gateway(sipp: Sipp, **fields) -> dict:
    return {"server": sipp.host, "port": sipp.port, **fields}


def invites(sipp: Sipp) -> list[str]:
    """The INVITEs a gateway received, as raw text, in order (retransmissions left out)."""
    received = re.split(r"^-{20,}.*\n[A-Z]+ message received \[\d+\] bytes :\n\n", sipp.messages(), flags=re.M)
    found = {}
    for message in received:
        if message.startswith("INVITE sip:"):
            message = message.split("\n-----", 1)[0]
            found.setdefault((head(message, "call-id"), head(message, "cseq")), message)
    return list(found.values())


def head(message: str, name: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in message.splitlines() if line.lower().startswith(f"{name}:"))


def tenant(master, server, **limits) -> SimpleNamespace:
    """A fresh account whose provider allows it `limits` (trunks by default), and a registered caller device."""
    account = master.create_account(master.account_id, unique("Carrier calls"))
    resp = master.post(f"accounts/{account['id']}/limits", limits or {"twoway_trunks": 5})
    assert resp.status_code == 200, resp.text
    return phone_office(account, server, 7000)


def add_carrier(master, office, rules: list[str], gateways: list[dict], *, local: bool = True, **fields) -> str:
    path = f"accounts/{office.id}/resources" if local else "resources"
    resp = master.put(path, {"name": unique("Carrier"), "rules": rules, "gateways": gateways, **fields})
    assert resp.status_code == 201, resp.text
    return resp.json()["data"]["id"]


def dial_out_flow(master, office, module: str = "resources", **data) -> str:
    """A callflow `9` + ten digits → the action with the ten digits (the pattern's capture) as the number."""
    prefix = office.next_number()
    pattern = f"^{prefix}(\\d{{10}})$"
    resp = master.put(
        f"accounts/{office.id}/callflows", {"patterns": [pattern], "flow": {"module": module, "data": data}}
    )
    assert resp.status_code == 201, resp.text
    return prefix


def caller(master, office, phones):
    device = new_device(master, office, "caller", caller_id=CALLER_ID)
    return registered(phones, office, device, codecs=("PCMA", "PCMU"))


def cdr(master, office, leg: dict) -> dict:
    """The whole CDR of a listed leg (the listing shows only some of its fields)."""
    resp = master.get(f"accounts/{office.id}/cdrs/{leg['id']}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def channel_vars(master, office, leg: dict) -> dict:
    return cdr(master, office, leg)["custom_channel_vars"]


def usage(master, office) -> dict:
    return master.get(f"accounts/{office.id}/limits/usage").json()["data"]


def talk_and_hang_up(master, office, phone, out) -> None:
    out.wait("CONFIRMED")
    phone.hangup()
    out.wait("DISCONNECTED")
    wait_until(lambda: usage(master, office)["calls"] == 0, 5.0, "the trunk to be released")


def test_a_byoc_carrier_gets_the_dial_string_caller_id_and_headers_and_the_trunk_is_released(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    with ExitStack() as stack:
        gw = carrier_sipp("uas_answer.xml", stack)
        carrier_id = add_carrier(
            master,
            office,
            [r"^\+1(\d{10})$"],
            [gateway(gw, prefix="77", codecs=["PCMU"], custom_sip_headers={"X-Trunk-Group": "acme-1"})],
        )
        prefix = dial_out_flow(master, office)
        out = phone.call(f"{prefix}4155550123")
        out.wait("CONFIRMED")
        assert usage(master, office)["twoway"] == 1
        phone.hangup()
        out.wait("DISCONNECTED")
        [invite] = invites(gw)
    assert invite.lstrip().startswith(f"INVITE sip:774155550123@{gw.host}:{gw.port} SIP/2.0"), invite
    assert '"Acme Sales"' in head(invite, "from") and "sip:+14155550100@" in head(invite, "from")
    assert head(invite, "p-asserted-identity").startswith('"Acme Sales" <sip:+14155550100@')
    assert head(invite, "x-trunk-group") == "acme-1"
    codecs = set(re.findall(r"^a=rtpmap:\d+ ([\w-]+)/", invite, re.M))
    assert codecs == {"PCMU", "telephone-event"}, "only PCMU (and DTMF) offered"
    wait_until(lambda: usage(master, office)["calls"] == 0, 5.0, "the trunk to be released")
    inbound, outbound = legs_of(master, office, out.call_id)
    assert channel_vars(master, office, outbound)["resource_id"] == carrier_id
    assert outbound["call_type"] == inbound["call_type"] == "flat_rate"
    assert outbound["hangup_cause"] == "NORMAL_CLEARING"


def test_failover_follows_weights_and_gateway_order_and_stops_at_the_first_answer(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    rule = [r"^\+1(\d{10})$"]
    with ExitStack() as stack:
        down = carrier_sipp("uas_unavailable.xml", stack)
        away = carrier_sipp("uas_not_found.xml", stack)
        good = carrier_sipp("uas_answer.xml", stack)
        spare = carrier_sipp("uas_answer.xml", stack)
        add_carrier(master, office, rule, [gateway(spare)], weight_cost=90)
        second = add_carrier(master, office, rule, [gateway(away), gateway(good, invite_format="e164")], weight_cost=30)
        add_carrier(master, office, rule, [gateway(down)], weight_cost=10)
        prefix = dial_out_flow(master, office)
        out = phone.call(f"{prefix}4155550124")
        talk_and_hang_up(master, office, phone, out)
    assert [len(invites(g)) for g in (down, away, good, spare)] == [1, 1, 1, 0]  # read once SIPp stopped
    assert invites(away)[0].startswith(f"INVITE sip:4155550124@{away.host}:{away.port} ")
    assert invites(good)[0].startswith(f"INVITE sip:+14155550124@{good.host}:{good.port} "), "invite_format e164"
    legs = legs_of(master, office, out.call_id, count=4)
    outbound = [leg for leg in legs if leg["direction"] == "outbound"]
    failed = [cdr(master, office, leg) for leg in outbound if leg["hangup_cause"] != "NORMAL_CLEARING"]
    assert sorted(leg["hangup_code"] for leg in failed) == ["sip:404", "sip:503"]
    answered = [leg for leg in outbound if leg["hangup_cause"] == "NORMAL_CLEARING"]
    assert [channel_vars(master, office, leg)["resource_id"] for leg in answered] == [second]


def test_busy_goes_back_to_the_caller_without_failover(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    with ExitStack() as stack:
        busy = carrier_sipp("uas_busy.xml", stack)
        spare = carrier_sipp("uas_answer.xml", stack)
        add_carrier(master, office, [r"^\+1(\d{10})$"], [gateway(busy), gateway(spare)])
        prefix = dial_out_flow(master, office)
        out = phone.call(f"{prefix}4155550125").wait("DISCONNECTED")
        assert out.code == 486, (out.code, out.reason)
    assert (len(invites(busy)), len(invites(spare))) == (1, 0)
    wait_until(lambda: usage(master, office)["calls"] == 0, 5.0, "the trunk to be released")


def test_a_digest_challenge_is_answered_and_a_wrong_password_fails_over(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    with ExitStack() as stack:
        strict = carrier_sipp("uas_digest.xml", stack, user="trunk7", password="s3cret")
        checked = carrier_sipp("uas_digest.xml", stack, user="trunk7", password="s3cret")
        gateways = [
            gateway(strict, username="trunk7", password="not-it"),
            gateway(checked, username="trunk7", password="s3cret", format_from_uri=True, from_uri_realm="pbx.test"),
        ]
        add_carrier(master, office, [r"^\+1(\d{10})$"], gateways)
        prefix = dial_out_flow(master, office)
        out = phone.call(f"{prefix}4155550126")
        talk_and_hang_up(master, office, phone, out)
        first, again = invites(checked)
        assert "authorization" not in first.lower()
        assert 'username="trunk7"' in head(again, "authorization") and 'realm="carrier.test"' in again
        assert "<sip:+14155550100@pbx.test>" in head(again, "from"), "format_from_uri: at the from_uri_realm"
        assert head(first, "call-id") == head(again, "call-id") and head(again, "cseq") == "2 INVITE"
        assert len(invites(strict)) == 2, "the wrong answer was sent once, then the next gateway was tried"


def test_a_slow_gateway_is_skipped_after_its_progress_timeout_and_waited_for_within_it(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    with ExitStack() as stack:
        slow = carrier_sipp("uas_late_answer.xml", stack)
        quick = carrier_sipp("uas_answer.xml", stack)
        add_carrier(master, office, [r"^\+1(\d{10})$"], [gateway(slow, progress_timeout=1), gateway(quick)])
        out = phone.call(f"{dial_out_flow(master, office)}4155550127")
        talk_and_hang_up(master, office, phone, out)
        assert (len(invites(slow)), len(invites(quick))) == (1, 1)

        patient = carrier_sipp("uas_late_answer.xml", stack)
        add_carrier(master, office, [r"^\+1(555\d{7})$"], [gateway(patient, progress_timeout=6)], weight_cost=1)
        out = phone.call(f"{dial_out_flow(master, office)}5552220128")
        out.wait("EARLY", timeout=10.0)
        talk_and_hang_up(master, office, phone, out)
        assert len(invites(patient)) == 1


def test_outbound_flags_pick_the_carrier_that_carries_them(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    with ExitStack() as stack:
        plain = carrier_sipp("uas_answer.xml", stack)
        premium = carrier_sipp("uas_answer.xml", stack)
        plain_id = add_carrier(master, office, [r"^\+1(\d{10})$"], [gateway(plain)], weight_cost=10)
        premium_id = add_carrier(
            master, office, [r"^\+1(\d{10})$"], [gateway(premium)], weight_cost=20, flags=["premium"]
        )
        flagged = phone.call(f"{dial_out_flow(master, office, outbound_flags=['premium'])}4155550129")
        talk_and_hang_up(master, office, phone, flagged)
        plain_call = phone.call(f"{dial_out_flow(master, office)}4155550130")
        talk_and_hang_up(master, office, phone, plain_call)
    assert (len(invites(plain)), len(invites(premium))) == (1, 1)
    for out, carrier_id in ((flagged, premium_id), (plain_call, plain_id)):
        [outbound] = [leg for leg in legs_of(master, office, out.call_id) if leg["direction"] == "outbound"]
        assert channel_vars(master, office, outbound)["resource_id"] == carrier_id


def test_zero_trunks_refuse_with_403_before_any_gateway_and_the_cdr_says_why(phones, master, server):
    office = tenant(master, server, twoway_trunks=0)
    phone = caller(master, office, phones)
    with ExitStack() as stack:
        gw = carrier_sipp("uas_answer.xml", stack)
        add_carrier(master, office, [r"^\+1(\d{10})$"], [gateway(gw)])
        out = phone.call(f"{dial_out_flow(master, office)}4155550131").wait("DISCONNECTED")
        assert out.code == 403, (out.code, out.reason)
    assert invites(gw) == []
    [leg] = legs_of(master, office, out.call_id, count=1)
    assert leg["hangup_cause"] == "OUTGOING_CALL_BARRED"
    assert leg["call_type"] == channel_vars(master, office, leg)["account_billing"] == "trunks_exhausted"
    assert usage(master, office)["calls"] == 0


def test_no_carrier_for_the_number_is_no_route_destination(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    out = phone.call(f"{dial_out_flow(master, office)}4155550132").wait("DISCONNECTED")
    assert out.code == 404, (out.code, out.reason)
    [leg] = legs_of(master, office, out.call_id, count=1)
    assert leg["hangup_cause"] == "NO_ROUTE_DESTINATION"


def test_a_new_accounts_no_match_callflow_calls_out_through_the_global_carriers_only(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    number = f"+15552{secrets.randbelow(10**6):06d}"
    with ExitStack() as stack:
        global_gw = carrier_sipp("uas_answer.xml", stack)
        own_gw = carrier_sipp("uas_answer.xml", stack)
        global_id = add_carrier(master, office, [f"^\\{number}$"], [gateway(global_gw)], local=False, weight_cost=1)
        add_carrier(master, office, [f"^\\{number}$"], [gateway(own_gw)], weight_cost=1)
        try:
            out = phone.call(number)
            talk_and_hang_up(master, office, phone, out)
        finally:
            master.delete(f"resources/{global_id}")
    assert (len(invites(global_gw)), len(invites(own_gw))) == (1, 0)
    assert invites(global_gw)[0].startswith(f"INVITE sip:{number}@{global_gw.host}:{global_gw.port} ")


def test_resources_without_local_resources_uses_the_global_carriers(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    digits = f"5552{secrets.randbelow(10**6):06d}"
    with ExitStack() as stack:
        global_gw = carrier_sipp("uas_answer.xml", stack)
        own_gw = carrier_sipp("uas_answer.xml", stack)
        global_id = add_carrier(master, office, [f"^\\+1({digits})$"], [gateway(global_gw)], local=False, weight_cost=1)
        add_carrier(master, office, [f"^\\+1({digits})$"], [gateway(own_gw)])
        try:
            prefix = dial_out_flow(master, office, use_local_resources=False)
            talk_and_hang_up(master, office, phone, phone.call(f"{prefix}{digits}"))
        finally:
            master.delete(f"resources/{global_id}")
    assert (len(invites(global_gw)), len(invites(own_gw))) == (1, 0)


@pytest.mark.parametrize("hunt", ["stranger", "parent"])
def test_resources_hunts_an_ancestors_carriers_but_never_a_strangers(phones, master, server, hunt):
    parent = tenant(master, server)
    child_doc = master.create_account(parent.id, unique("Child"))
    assert master.post(f"accounts/{child_doc['id']}/limits", {"twoway_trunks": 5}).status_code == 200
    child = SimpleNamespace(**{**vars(parent), "id": child_doc["id"], "realm": child_doc["realm"]})
    stranger = tenant(master, server)
    phone = caller(master, child, phones)
    with ExitStack() as stack:
        gw = carrier_sipp("uas_answer.xml", stack)
        owner = parent if hunt == "parent" else stranger
        add_carrier(master, owner, [r"^\+1(\d{10})$"], [gateway(gw)])
        prefix = dial_out_flow(master, child, hunt_account_id=owner.id)
        out = phone.call(f"{prefix}4155550133")
        if hunt == "parent":
            talk_and_hang_up(master, child, phone, out)
        else:
            out.wait("DISCONNECTED")
            assert out.code == 404, (out.code, out.reason)
    assert len(invites(gw)) == (1 if hunt == "parent" else 0)


def test_every_new_account_gets_a_no_match_callflow_to_offnet_that_clients_can_hide_and_delete(master):
    account = master.create_account(master.account_id, unique("Fresh"))
    listed = master.get(f"accounts/{account['id']}/callflows").json()["data"]
    assert [row["numbers"] for row in listed] == [["no_match"]]
    doc = master.get(f"accounts/{account['id']}/callflows/{listed[0]['id']}").json()["data"]
    assert doc["flow"] == {"module": "offnet", "data": {}, "children": {}} or doc["flow"]["module"] == "offnet"
    assert master.get(f"accounts/{account['id']}/callflows?filter_not_numbers=no_match").json()["data"] == []
    assert master.delete(f"accounts/{account['id']}/callflows/{listed[0]['id']}").status_code == 200
    assert master.get(f"accounts/{account['id']}/callflows").json()["data"] == []


def test_a_caller_hanging_up_while_the_gateway_is_silent_cancels_it_and_frees_the_trunk(phones, master, server):
    office = tenant(master, server)
    phone = caller(master, office, phones)
    with ExitStack() as stack:
        slow = carrier_sipp("uas_late_answer.xml", stack)
        spare = carrier_sipp("uas_answer.xml", stack)
        add_carrier(master, office, [r"^\+1(\d{10})$"], [gateway(slow), gateway(spare)])
        out = phone.call(f"{dial_out_flow(master, office)}4155550134")
        wait_until(lambda: usage(master, office)["calls"] == 1, 5.0, "the trunk to be taken")
        phone.hangup()
        out.wait("DISCONNECTED")
        wait_until(lambda: usage(master, office)["calls"] == 0, 5.0, "the trunk to be released")
        [inbound] = legs_of(master, office, out.call_id, count=1)
    assert invites(spare) == [], "the caller left: no failover"
    assert inbound["hangup_cause"] == "ORIGINATOR_CANCEL"


def test_a_blind_transfer_out_through_a_carrier_holds_its_trunk_until_the_call_ends(phones, master, server):
    office = tenant(master, server)
    alice = caller(master, office, phones)
    bob_dev = new_device(master, office, "bob")
    bob = registered(phones, office, bob_dev)
    to_bob = office.next_number()
    master.create(
        office.id, "callflows", {"numbers": [to_bob], "flow": {"module": "device", "data": {"id": bob_dev.id}}}
    )
    with ExitStack() as stack:
        gw = carrier_sipp("uas_answer.xml", stack)
        add_carrier(master, office, [r"^\+1(\d{10})$"], [gateway(gw)])
        prefix = dial_out_flow(master, office)
        out = alice.call(to_bob)
        bob_call = bob.answer()
        out.wait("CONFIRMED")
        bob_call.transfer(f"{prefix}4155550135")
        assert bob_call.wait_transfer() == 200
        bob.hangup()
        wait_until(lambda: usage(master, office)["calls"] == 1, 5.0, "the transfer's trunk")
        pump(0.5)
        assert usage(master, office)["calls"] == 1, "held while the transferee talks to the carrier"
        alice.hangup()
        out.wait("DISCONNECTED")
        wait_until(lambda: usage(master, office)["calls"] == 0, 5.0, "the trunk to be released")
    assert len(invites(gw)) == 1


def test_a_callee_that_answers_and_hangs_up_at_once_ends_the_call_cleanly(phones, master, server):
    """The callee's BYE right behind its 200 ends its leg (and media session) while the caller's answer is being
    made: the caller gets a clean refusal (480) or the 200 and then a BYE, never a 500, and both CDRs say the call was
    cleared normally. Which of the two a call meets depends on when the BYE lands, so several calls are made."""
    office = tenant(master, server)
    phone = caller(master, office, phones)
    calls = 4
    with ExitStack() as stack:
        gw = stack.enter_context(Sipp("uas_answer_bye.xml", host=gateway_host(), calls=calls, tick=pump))
        add_carrier(master, office, [r"^\+1(\d{10})$"], [gateway(gw)])
        prefix = dial_out_flow(master, office)
        for n in range(calls):
            out = phone.call(f"{prefix}41555501{40 + n}").wait("DISCONNECTED")
            # the BYE ends the leg before the caller is answered (480), or right after (the 200, then our BYE)
            outcome = (out.code, "CONFIRMED" in out.states)
            assert outcome in ((480, False), (200, True)), (out.code, out.reason, out.states)
            a, b = legs_of(master, office, out.call_id)
            assert (a["hangup_cause"], b["hangup_cause"]) == ("NORMAL_CLEARING", "NORMAL_CLEARING"), (a, b)
        result = gw.stop()
        assert result.ok and result.successful == calls, result.describe()
    wait_until(lambda: usage(master, office)["calls"] == 0, 5.0, "the trunks to be released")
