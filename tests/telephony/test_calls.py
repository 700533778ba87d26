"""Calls through the served platform: pjsua2 phones and SIPp register as devices made through the API and call
each other through callflows; the API then shows the live channels and the CDRs of every leg."""

from __future__ import annotations

import re
import secrets
from types import SimpleNamespace

import pytest

from cloudpbx.config import DEFAULT_RTP_PORTS
from tests.helpers import unique
from tests.sip.phones import phones, pump, wait_until  # noqa: F401 - phones is a fixture
from tests.sip.sipp import Sipp, free_port
from tests.sip.uac import SipSocket, authorization, challenges


@pytest.fixture(scope="module")
def office(master, server):
    return phone_office(master.create_account(master.account_id, unique("Calls")), server, 3000)


def phone_office(account: dict, server, first: int) -> SimpleNamespace:
    """An account as phone tests use it: its id and realm, the server's SIP address, and fresh extension numbers
    from `first` on."""
    numbers = iter(range(first, first + 1000))
    return SimpleNamespace(
        id=account["id"],
        realm=account["realm"],
        server=f"127.0.0.1:{server.sip_port}",
        port=server.sip_port,
        next_number=lambda: str(next(numbers)),
    )


def new_device(master, office, name: str, **fields) -> SimpleNamespace:
    username, password = f"{name}{secrets.token_hex(3)}", f"pw-{secrets.token_hex(6)}"
    doc = master.create(
        office.id, "devices", {"name": name, "sip": {"username": username, "password": password}, **fields}
    )
    return SimpleNamespace(id=doc["id"], name=name, username=username, password=password)


def new_callflow(master, office, flow: dict) -> str:
    number = office.next_number()
    master.create(office.id, "callflows", {"numbers": [number], "flow": flow})
    return number


def registered(phones, office, device, **kwargs):
    phone = phones(device.name, **kwargs)
    assert phone.register(office.server, office.realm, device.username, device.password) == 200
    return phone


def ring_device(device, timeout: int = 10, **children) -> dict:
    return {"module": "device", "data": {"id": device.id, "timeout": timeout}, "children": children}


def header(message: str, *names: str) -> str:
    """The first header line of a raw message with one of `names` (lower case, compact forms included)."""
    return next(line for line in message.splitlines() if line.split(":", 1)[0].strip().lower() in names)


def audio_port(message: str) -> int:
    return int(re.search(r"^m=audio (\d+) ", message, re.M).group(1))


def relayed(port: int) -> bool:
    low, high = DEFAULT_RTP_PORTS
    return low <= port <= high


def channels(master, office) -> list[dict]:
    resp = master.get(f"accounts/{office.id}/channels")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def legs_of(master, office, *call_ids: str, count: int = 2) -> list[dict]:
    """The CDR legs of the interaction the A leg `call_ids[0]` started, once `count` of them are written."""
    found: list[dict] = []

    def written() -> bool:
        rows = master.get(f"accounts/{office.id}/cdrs").json()["data"]
        first = [row for row in rows if row["call_id"] == call_ids[0]]
        found[:] = [row for row in rows if first and row["interaction_id"] == first[0]["interaction_id"]]
        return len(found) >= count

    wait_until(written, 5.0, f"{count} CDR legs of {call_ids[0]}")
    return sorted(found, key=lambda row: row["direction"])


def test_registration_needs_the_device_password(phones, office, master):
    right, wrong = new_device(master, office, "right"), new_device(master, office, "wrong")
    good = registered(phones, office, right)
    bad = phones("wrong")
    assert bad.register(office.server, office.realm, wrong.username, "not-the-password") == 403
    listed = master.get(f"accounts/{office.id}/devices?with_status=true").json()["data"]
    status = {d["id"]: d["registered"] for d in listed}
    assert good.registered and status[right.id] is True and status[wrong.id] is False


def test_device_call_carries_tones_shows_a_channel_holds_resumes_and_caller_hangs_up(phones, office, master):
    alice_dev = new_device(master, office, "alice", caller_id={"internal": {"name": "Alice Caller", "number": "2001"}})
    bob_dev = new_device(master, office, "bob")
    number = new_callflow(master, office, ring_device(bob_dev))
    alice, bob = registered(phones, office, alice_dev), registered(phones, office, bob_dev)

    out = alice.call(number)
    incoming = bob.wait_incoming()
    out.wait("EARLY")
    assert (out.code, out.reason) == (180, "Ringing")
    sender = header(incoming.invite, "from", "f")
    assert '"Alice Caller"' in sender and f"sip:2001@{office.realm}" in sender
    assert relayed(audio_port(incoming.invite)), "the callee is offered the relay's port"
    incoming.answer()
    out.wait("CONFIRMED")
    assert out.codec == incoming.codec == "PCMU"

    live = channels(master, office)
    assert {(c["direction"], c["answered"]) for c in live} == {("inbound", True), ("outbound", True)}
    assert {c["uuid"] for c in live} == {out.call_id, incoming.call_id}
    assert len({c["bridge_id"] for c in live}) == 1
    inbound = next(c for c in live if c["direction"] == "inbound")
    assert inbound["destination"] == number and inbound["authorizing_id"] == alice_dev.id

    alice.send_tone(1000)
    bob.send_tone(1500)
    assert bob.hears(1000) and alice.hears(1500)

    alice.hold()
    pump(0.2)
    assert (incoming.media, incoming.direction) == ("remote_hold", "recvonly")
    assert out.listen().level() < 100, "bob, held, is not heard"
    alice.unhold()
    pump(0.2)
    assert (incoming.media, incoming.direction) == ("active", "sendrecv")
    assert bob.hears(1000) and alice.hears(1500)

    alice.hangup()
    incoming.wait("DISCONNECTED")
    wait_until(lambda: not channels(master, office), 3.0, "the channels to go")
    inbound_leg, outbound_leg = legs_of(master, office, out.call_id, incoming.call_id)
    assert (inbound_leg["call_id"], outbound_leg["call_id"]) == (out.call_id, incoming.call_id)
    assert inbound_leg["hangup_cause"] == outbound_leg["hangup_cause"] == "NORMAL_CLEARING"
    assert (inbound_leg["disposition"], outbound_leg["disposition"]) == ("recv_bye", "send_bye")
    assert inbound_leg["other_leg_call_id"] == incoming.call_id
    assert inbound_leg["dialed_number"] == number and inbound_leg["caller_id_number"] == "2001"
    assert outbound_leg["authorizing_id"] == bob_dev.id and outbound_leg["calling_from"] == "2001"
    assert inbound_leg["billing_seconds"] >= 1 and inbound_leg["duration_seconds"] >= inbound_leg["billing_seconds"]


def test_a_refused_hold_leaves_both_directions_flowing(phones, office, master):
    """The callee refuses the caller's hold (488): the relay goes back to what both phones last agreed, so each
    still hears the other."""
    alice_dev, bob_dev = new_device(master, office, "alice"), new_device(master, office, "bob")
    number = new_callflow(master, office, ring_device(bob_dev))
    alice, bob = registered(phones, office, alice_dev), registered(phones, office, bob_dev)
    out = alice.call(number)
    incoming = bob.answer()
    out.wait("CONFIRMED")
    alice.send_tone(1000)
    bob.send_tone(1500)
    assert bob.hears(1000) and alice.hears(1500)

    incoming.refuse_offers = 488
    out.hold_refused()
    assert incoming.offers, "the hold reached the callee"
    assert (out.media, incoming.media) == ("active", "active")
    assert alice.hears(1500), "the caller still hears the callee after its hold was refused"
    assert bob.hears(1000)
    out.hangup()
    incoming.wait("DISCONNECTED")


def test_callee_over_tcp_hangs_up(phones, office, master):
    alice_dev, bob_dev = new_device(master, office, "alice"), new_device(master, office, "bob")
    number = new_callflow(master, office, ring_device(bob_dev))
    alice, bob = registered(phones, office, alice_dev), registered(phones, office, bob_dev, transport="tcp")
    out = alice.call(number)
    incoming = bob.answer()
    out.wait("CONFIRMED")
    alice.send_tone(1000)
    assert bob.hears(1000)
    bob.hangup()
    out.wait("DISCONNECTED")
    assert out.code == 200
    inbound_leg, outbound_leg = legs_of(master, office, out.call_id)
    assert (inbound_leg["disposition"], outbound_leg["disposition"]) == ("send_bye", "recv_bye")
    assert outbound_leg["call_id"] == incoming.call_id


def test_caller_cancels_while_ringing(phones, office, master):
    alice_dev, bob_dev = new_device(master, office, "alice"), new_device(master, office, "bob")
    number = new_callflow(master, office, ring_device(bob_dev))
    alice, bob = registered(phones, office, alice_dev), registered(phones, office, bob_dev)
    out = alice.call(number)
    incoming = bob.wait_incoming()
    out.wait("EARLY")
    out.hangup()
    incoming.wait("DISCONNECTED")
    assert incoming.code == 487
    legs = legs_of(master, office, out.call_id)
    assert {leg["hangup_cause"] for leg in legs} == {"ORIGINATOR_CANCEL"}
    assert all(leg["billing_seconds"] == 0 for leg in legs)
    assert not channels(master, office)


def test_user_callflow_rings_every_device_of_the_user(phones, office, master):
    user = master.create(office.id, "users", {"first_name": "Bob", "last_name": unique("Two-Phones")})
    desk, soft = (new_device(master, office, name, owner_id=user["id"]) for name in ("desk", "soft"))
    alice_dev = new_device(master, office, "alice")
    number = new_callflow(master, office, {"module": "user", "data": {"id": user["id"], "timeout": 10}})
    alice = registered(phones, office, alice_dev)
    desk_phone, soft_phone = registered(phones, office, desk), registered(phones, office, soft)
    out = alice.call(number)
    ringing_desk = desk_phone.wait_incoming()
    soft_phone.answer()
    out.wait("CONFIRMED")
    ringing_desk.wait("DISCONNECTED")
    assert ringing_desk.code == 487
    alice.hangup()
    legs = legs_of(master, office, out.call_id, count=3)
    assert sorted(leg["hangup_cause"] for leg in legs if leg["direction"] == "outbound") == [
        "LOSE_RACE",
        "NORMAL_CLEARING",
    ]


def test_single_ring_group_reaches_the_second_member_when_the_first_does_not_answer(phones, office, master):
    first, second, alice_dev = (new_device(master, office, name) for name in ("first", "second", "alice"))
    number = new_callflow(
        master,
        office,
        {
            "module": "ring_group",
            "data": {
                "strategy": "single",
                "timeout": 20,
                "endpoints": [
                    {"id": first.id, "endpoint_type": "device", "timeout": 3},
                    {"id": second.id, "endpoint_type": "device", "timeout": 10},
                ],
            },
        },
    )
    alice = registered(phones, office, alice_dev)
    first_phone, second_phone = registered(phones, office, first), registered(phones, office, second)
    out = alice.call(number)
    unanswered = first_phone.wait_incoming()
    pump(1.0)
    assert not second_phone.ringing, "single strategy: one member at a time"
    unanswered.wait("DISCONNECTED", timeout=5.0)
    second_phone.answer()
    out.wait("CONFIRMED")
    alice.send_tone(1000)
    assert second_phone.hears(1000)
    alice.hangup()


def test_busy_callee_takes_the_user_busy_branch(phones, office, master):
    alice_dev, bob_dev = new_device(master, office, "alice"), new_device(master, office, "bob")
    busy = {"module": "response", "data": {"code": 503, "message": "Busy Branch"}}
    number = new_callflow(master, office, ring_device(bob_dev, USER_BUSY=busy))
    alice, bob = registered(phones, office, alice_dev), registered(phones, office, bob_dev)
    out = alice.call(number)
    bob.reject(486)
    out.wait("DISCONNECTED")
    assert (out.code, out.reason) == (503, "Busy Branch")
    _inbound_leg, outbound_leg = legs_of(master, office, out.call_id)
    assert outbound_leg["hangup_cause"] == "USER_BUSY"


def test_unanswered_callee_takes_the_no_answer_branch(phones, office, master):
    alice_dev, bob_dev, carol_dev = (new_device(master, office, name) for name in ("alice", "bob", "carol"))
    number = new_callflow(master, office, ring_device(bob_dev, timeout=2, NO_ANSWER=ring_device(carol_dev)))
    alice = registered(phones, office, alice_dev)
    bob, carol = registered(phones, office, bob_dev), registered(phones, office, carol_dev)
    out = alice.call(number)
    ignored = bob.wait_incoming()
    ignored.wait("DISCONNECTED", timeout=5.0)
    carol.answer()
    out.wait("CONFIRMED")
    carol.hangup()
    out.wait("DISCONNECTED")
    legs = legs_of(master, office, out.call_id, count=3)
    assert sorted(leg["hangup_cause"] for leg in legs if leg["direction"] == "outbound") == [
        "NORMAL_CLEARING",
        "NO_ANSWER",
    ]


def test_unregistered_callee_fails_with_480(phones, office, master):
    alice_dev, absent = new_device(master, office, "alice"), new_device(master, office, "absent")
    number = new_callflow(master, office, ring_device(absent))
    out = registered(phones, office, alice_dev).call(number).wait("DISCONNECTED")
    assert out.code == 480
    [inbound_leg] = legs_of(master, office, out.call_id, count=1)
    assert inbound_leg["hangup_cause"] == "USER_NOT_REGISTERED"


def test_devices_without_a_common_codec_get_488(phones, office, master):
    alice_dev = new_device(master, office, "alice", media={"audio": {"codecs": ["PCMU"]}})
    bob_dev = new_device(master, office, "bob", media={"audio": {"codecs": ["PCMA"]}})
    number = new_callflow(master, office, ring_device(bob_dev))
    alice, bob = registered(phones, office, alice_dev), registered(phones, office, bob_dev)
    out = alice.call(number).wait("DISCONNECTED")
    assert out.code == 488
    assert not bob.calls, "the callee is never rung"
    [inbound_leg] = legs_of(master, office, out.call_id, count=1)
    assert inbound_leg["hangup_cause"] == "INCOMPATIBLE_DESTINATION"


def test_response_action_and_unknown_numbers(phones, office, master):
    alice_dev = new_device(master, office, "alice")
    number = new_callflow(master, office, {"module": "response", "data": {"code": 503, "message": "Closed"}})
    alice = registered(phones, office, alice_dev)
    closed = alice.call(number).wait("DISCONNECTED")
    assert (closed.code, closed.reason) == (503, "Closed")
    unknown = alice.call("unknown-name").wait("DISCONNECTED")
    assert unknown.code == 404
    [inbound_leg] = legs_of(master, office, unknown.call_id, count=1)
    assert inbound_leg["hangup_cause"] == "UNALLOCATED_NUMBER"
    # digits no callflow holds go to the account's default no_match callflow, offnet, where no carrier takes them
    unrouted = alice.call("7777777").wait("DISCONNECTED")
    assert unrouted.code == 404
    [inbound_leg] = legs_of(master, office, unrouted.call_id, count=1)
    assert inbound_leg["hangup_cause"] == "NO_ROUTE_DESTINATION"


def test_bypassed_media_flows_phone_to_phone_and_privacy_hides_the_caller(phones, office, master):
    alice_dev = new_device(
        master,
        office,
        "alice",
        caller_id={"internal": {"name": "Alice", "number": "2001"}},
        caller_id_options={"outbound_privacy": "full"},
    )
    bob_dev = new_device(master, office, "bob", media={"bypass_media": True})
    number = new_callflow(master, office, ring_device(bob_dev))
    alice, bob = registered(phones, office, alice_dev), registered(phones, office, bob_dev)
    out = alice.call(number)
    incoming = bob.answer()
    out.wait("CONFIRMED")
    assert not relayed(audio_port(incoming.invite)), "bypass: the caller's own port"
    assert header(incoming.invite, "from", "f").startswith('From: "anonymous" <sip:0000000000@')
    assert header(incoming.invite, "privacy").endswith(": id")
    assert "p-asserted-identity" not in incoming.invite.lower()
    alice.send_tone(1000)
    bob.send_tone(1500)
    assert bob.hears(1000) and alice.hears(1500)
    alice.hangup()


def raw_invite(office, device, body: bytes) -> int:
    """INVITE from a bare UAC that answers the 407 with the device's credentials: the final status."""
    sip = SipSocket(office.port)
    host, port = sip.address
    uri, call_id, tag = f"sip:7000@{office.realm}", f"{secrets.token_hex(8)}@test", secrets.token_hex(4)

    def request(
        method: str, cseq: int, branch: str, extra: tuple[str, ...] = (), to_tag: str = "", content: bytes = b""
    ) -> bytes:
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {host}:{port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{device.username}@{office.realm}>;tag={tag}",
            f"To: <{uri}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:{device.username}@{host}:{port}>",
            *extra,
            *(["Content-Type: application/sdp"] if content else []),
            f"Content-Length: {len(content)}",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + content

    try:
        first, second = f"z9hG4bK{secrets.token_hex(6)}", f"z9hG4bK{secrets.token_hex(6)}"
        sip.send(request("INVITE", 1, first, content=body))
        challenge = sip.final()
        assert challenge.status == 407, challenge
        sip.send(request("ACK", 1, first, to_tag=challenge.to.tag))
        answer = authorization(
            challenges(challenge, "Proxy-Authenticate")["MD5"], "INVITE", uri, device.username, device.password
        )
        sip.send(request("INVITE", 2, second, (f"Proxy-Authorization: {answer}",), content=body))
        final = sip.final()
        sip.send(request("ACK", 2, second, to_tag=final.to.tag))
        return final.status
    finally:
        sip.close()


def test_a_malformed_offer_gets_400_and_the_server_goes_on(phones, office, master):
    alice_dev = new_device(master, office, "alice")
    assert raw_invite(office, alice_dev, b"v=0\r\nthis is no SDP\r\n") == 400
    assert raw_invite(office, alice_dev, b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nc=IN IP4\r\n") == 400
    unknown = registered(phones, office, alice_dev).call("7777778").wait("DISCONNECTED")
    assert unknown.code == 404


def sipp_callee(master, office, name: str) -> tuple[SimpleNamespace, int]:
    """A device registered by SIPp from a port a SIPp UAS then listens on."""
    device, port = new_device(master, office, name), free_port()
    registration = Sipp(
        "register_digest.xml",
        remote=office.server,
        port=port,
        keys={"caller": device.username, "domain": office.realm},
        auth=(device.username, device.password),
    ).run(timeout=20)
    assert registration.ok, registration.describe()
    return device, port


@pytest.mark.parametrize(
    "caller_scenario, callee_scenario",
    [("uac_call.xml", "uas_answer.xml"), ("uac_late_offer.xml", "uas_late_offer.xml")],
)
def test_sipp_calls_sipp_through_a_callflow(office, master, caller_scenario, callee_scenario):
    caller = new_device(master, office, "sippa")
    callee, port = sipp_callee(master, office, "sippb")
    number = new_callflow(master, office, ring_device(callee))
    with Sipp(callee_scenario, port=port, calls=3) as uas:
        uac = Sipp(
            caller_scenario,
            remote=office.server,
            service=number,
            calls=3,
            rate=10,
            pause_ms=200,
            keys={"caller": caller.username, "domain": office.realm},
            auth=(caller.username, caller.password),
        ).run(timeout=30)
        assert uac.ok, uac.describe()
        assert (uac.successful, uac.failed) == (3, 0)
    assert (uas.result().successful, uas.result().failed) == (3, 0), uas.result().describe()


def test_early_media_from_the_callee_is_heard_before_the_answer(phones, office, master):
    alice_dev, bob_dev = new_device(master, office, "alice"), new_device(master, office, "bob")
    number = new_callflow(master, office, ring_device(bob_dev))
    alice, bob = registered(phones, office, alice_dev), registered(phones, office, bob_dev)
    out = alice.call(number)
    incoming = bob.wait_incoming()
    incoming.answer(183)
    incoming.send_tone(425)
    wait_until(lambda: out.code == 183 and out.media == "active", 5.0, "the caller's early media")
    assert out.state == "EARLY" and "CONFIRMED" not in out.states, "not answered yet"
    assert out.hears(425), "the callee's ringback reaches the caller before the 200"
    assert out.state == "EARLY"

    incoming.stop_tone()
    incoming.answer()
    out.wait("CONFIRMED")
    out.send_tone(1000)
    incoming.send_tone(1500)
    assert incoming.hears(1000) and out.hears(1500)
    assert not out.hears(425), "the ringback stopped with the answer"
    out.hangup()
    incoming.wait("DISCONNECTED")


def test_the_callee_is_offered_only_what_a_call_handles(phones, office, master):
    alice_dev, bob_dev = new_device(master, office, "alice"), new_device(master, office, "bob")
    number = new_callflow(master, office, ring_device(bob_dev))
    alice, bob = registered(phones, office, alice_dev), registered(phones, office, bob_dev)
    out = alice.call(number)
    incoming = bob.wait_incoming()
    allow = {method.strip() for method in header(incoming.invite, "allow").split(":", 1)[1].split(",")}
    assert allow == {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "PRACK", "UPDATE", "REFER", "NOTIFY"}
    assert header(incoming.invite, "supported", "k").split(":", 1)[1].strip() == "100rel"
    names = {line.split(":", 1)[0].strip().lower() for line in incoming.invite.split("\r\n\r\n", 1)[0].splitlines()}
    assert not names & {"require"}, "no extension required (the caller's stay with it)"
    out.hangup()
    incoming.wait("DISCONNECTED")
