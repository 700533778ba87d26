"""Transfers asked for by phones (REFER, RFC 3515; Replaces, RFC 3891) through the served platform: pjsua2 phones
registered as devices call each other through callflows, the transferor REFERs, and the test listens to who hears
whom, reads the NOTIFYs the transferor got and the CDRs of every leg."""

from __future__ import annotations

import secrets
from types import SimpleNamespace

import pytest

from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.transaction import make_response
from tests.helpers import unique
from tests.sip.phones import phones, pump, wait_until  # noqa: F401 - phones is a fixture
from tests.sip.uac import SipSocket, authorization, challenges
from tests.telephony.test_calls import (
    header,
    legs_of,
    new_callflow,
    new_device,
    phone_office,
    registered,
    ring_device,
)

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"


def new_office(master, server, name: str, first: int = 5000) -> SimpleNamespace:
    return phone_office(master.create_account(master.account_id, unique(name)), server, first)


@pytest.fixture(scope="module")
def office(master, server):
    return new_office(master, server, "Transfers")


def trio(phones, office, master, *, c_codecs=("PCMU", "PCMA")):
    """Alice, Bob and Carol registered, with a callflow number ringing Bob and one ringing Carol."""
    devices = [new_device(master, office, name) for name in ("alice", "bob", "carol")]
    to_bob, to_carol = (new_callflow(master, office, ring_device(device)) for device in devices[1:])
    alice, bob = (registered(phones, office, device) for device in devices[:2])
    carol = registered(phones, office, devices[2], codecs=c_codecs)
    return SimpleNamespace(devices=devices, to_bob=to_bob, to_carol=to_carol, alice=alice, bob=bob, carol=carol)


def connected(caller, callee, number: str):
    """`caller` calls `number`, `callee` answers: both ends of the call."""
    out = caller.call(number)
    incoming = callee.answer()
    out.wait("CONFIRMED")
    return out, incoming


def history(master, office, row: dict) -> dict:
    """The `transfer_history` of a listed leg: in its whole CDR (`/cdrs/{id}`), not in the listing's row."""
    resp = master.get(f"accounts/{office.id}/cdrs/{row['id']}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"].get("transfer_history", {})


def hear_each_other(first, second, first_call=None, second_call=None) -> bool:
    (first_call or first.current).send_tone(1000)
    (second_call or second.current).send_tone(1500)
    return (second_call or second.current).hears(1000) and (first_call or first.current).hears(1500)


def test_blind_transfer_joins_the_caller_with_the_target_and_records_it(phones, office, master):
    t = trio(phones, office, master)
    out, bob_call = connected(t.alice, t.bob, t.to_bob)
    negotiated = out.media_updates

    bob_call.transfer(t.to_carol)
    carol_call = t.carol.wait_incoming()
    alice_dev = t.devices[0]
    assert f"sip:{alice_dev.username}@" in header(carol_call.invite, "from", "f"), "Carol is shown the transferee"
    wait_until(lambda: 180 in bob_call.transfer_statuses, 5.0, "the 180 NOTIFY")
    carol_call.answer()
    assert bob_call.wait_transfer() == 200
    assert list(dict.fromkeys(bob_call.transfer_statuses)) == [100, 180, 200], "pjsua reports the 202 as 100 too"
    bob_call.hangup()

    assert hear_each_other(t.alice, t.carol, out, carol_call)
    assert out.media_updates == negotiated, "Alice's media was not renegotiated: her relay ports stayed"
    out.hangup()
    carol_call.wait("DISCONNECTED")

    legs = {leg["call_id"]: leg for leg in legs_of(master, office, out.call_id, count=3)}
    assert set(legs) == {out.call_id, bob_call.call_id, carol_call.call_id}, "Carol's leg is one of the call's"
    assert legs[bob_call.call_id]["hangup_cause"] == "BLIND_TRANSFER"
    assert legs[out.call_id]["hangup_cause"] == legs[carol_call.call_id]["hangup_cause"] == "NORMAL_CLEARING"
    assert legs[out.call_id]["other_leg_call_id"] == carol_call.call_id
    for leg in legs.values():
        (entry,) = history(master, office, leg).values()
        assert entry == {
            "call_id": bob_call.call_id,
            "type": "blind",
            "transferee": out.call_id,
            "transferer": bob_call.call_id,
            "extension": t.to_carol,
        }


def test_a_transferor_that_stays_is_hung_up(phones, office, master):
    t = trio(phones, office, master)
    out, bob_call = connected(t.alice, t.bob, t.to_bob)
    bob_call.transfer(t.to_carol)
    carol_call = t.carol.answer()
    assert bob_call.wait_transfer() == 200
    bob_call.wait("DISCONNECTED")  # Bob never hung up: the platform did
    assert hear_each_other(t.alice, t.carol, out, carol_call)
    out.hangup()
    legs = {leg["call_id"]: leg for leg in legs_of(master, office, out.call_id, count=3)}
    assert (legs[bob_call.call_id]["hangup_cause"], legs[bob_call.call_id]["disposition"]) == (
        "BLIND_TRANSFER",
        "send_bye",
    )


def test_a_caller_held_before_a_blind_transfer_is_taken_off_hold(phones, office, master):
    t = trio(phones, office, master)
    out, bob_call = connected(t.alice, t.bob, t.to_bob)
    bob_call.hold()
    wait_until(lambda: out.media == "remote_hold", 5.0, "Alice to be held")
    bob_call.transfer(t.to_carol)
    carol_call = t.carol.answer()
    assert bob_call.wait_transfer() == 200
    wait_until(lambda: out.media == "active", 5.0, "Alice to be taken off hold")
    assert hear_each_other(t.alice, t.carol, out, carol_call)


def test_a_transferee_that_hangs_up_while_the_target_rings_ends_it_all(phones, office, master):
    t = trio(phones, office, master)
    out, bob_call = connected(t.alice, t.bob, t.to_bob)
    bob_call.transfer(t.to_carol)
    carol_call = t.carol.wait_incoming()
    out.hangup()
    bob_call.wait("DISCONNECTED")
    carol_call.wait("DISCONNECTED")
    assert carol_call.code == 487, "the target's ringing leg is cancelled"
    legs = {leg["call_id"]: leg for leg in legs_of(master, office, out.call_id, count=3)}
    assert legs[carol_call.call_id]["hangup_cause"] == "ORIGINATOR_CANCEL"
    assert legs[out.call_id]["disposition"] == "recv_bye"


@pytest.mark.parametrize("busy", [True, False], ids=["busy-target", "unknown-number"])
def test_a_failed_transfer_leaves_the_call_as_it_was(phones, office, master, busy):
    t = trio(phones, office, master)
    out, bob_call = connected(t.alice, t.bob, t.to_bob)
    if busy:
        bob_call.transfer(t.to_carol)
        t.carol.reject(486)
        assert bob_call.wait_transfer() == 486
    else:
        bob_call.transfer("7777779")
        assert bob_call.wait_transfer() == 404
    assert bob_call.state == out.state == "CONFIRMED"
    assert hear_each_other(t.alice, t.bob, out, bob_call)
    bob_call.hangup()
    out.wait("DISCONNECTED")


def test_a_transferor_that_left_is_called_back_when_the_target_fails(phones, office, master):
    t = trio(phones, office, master)
    out, bob_call = connected(t.alice, t.bob, t.to_bob)
    bob_call.transfer(t.to_carol)
    carol_call = t.carol.wait_incoming()
    bob_call.hangup()
    carol_call.reject(486)
    recall = t.bob.wait_incoming()
    recall.answer()
    assert out.state == "CONFIRMED"
    assert hear_each_other(t.alice, t.bob, out, recall)
    recall.hangup()
    out.wait("DISCONNECTED")
    legs = {leg["call_id"]: leg for leg in legs_of(master, office, out.call_id, count=4)}
    assert legs[bob_call.call_id]["hangup_cause"] == "BLIND_TRANSFER"
    assert legs[carol_call.call_id]["hangup_cause"] == "USER_BUSY"
    assert legs[recall.call_id]["hangup_cause"] == "NORMAL_CLEARING"


def test_transfer_to_another_accounts_number_routes_only_in_the_transferors_account(phones, office, master, server):
    t = trio(phones, office, master)
    elsewhere = new_office(master, server, "Other Tenant", first=8000)  # numbers the transferor's account lacks
    dave = new_device(master, elsewhere, "dave")
    foreign = new_callflow(master, elsewhere, ring_device(dave))
    dave_phone = registered(phones, elsewhere, dave)
    out, bob_call = connected(t.alice, t.bob, t.to_bob)
    bob_call.transfer(foreign)  # the other account's number, in Bob's realm or not
    assert bob_call.wait_transfer() == 404
    assert not dave_phone.ringing
    assert hear_each_other(t.alice, t.bob, out, bob_call)


def test_attended_transfer_joins_the_held_caller_with_the_second_callee(phones, office, master):
    t = trio(phones, office, master)
    out, first = connected(t.alice, t.bob, t.to_bob)
    first.hold()
    second, carol_call = connected(t.bob, t.carol, t.to_carol)
    first.transfer_replacing(second)
    assert first.wait_transfer() == 200
    second.wait("DISCONNECTED")
    first.wait("DISCONNECTED")
    wait_until(lambda: out.media == "active", 5.0, "Alice to be taken off hold")
    assert hear_each_other(t.alice, t.carol, out, carol_call)
    out.hangup()
    carol_call.wait("DISCONNECTED")
    alice_legs = {leg["call_id"]: leg for leg in legs_of(master, office, out.call_id, count=2)}
    bob_legs = {leg["call_id"]: leg for leg in legs_of(master, office, second.call_id, count=2)}
    assert alice_legs[first.call_id]["hangup_cause"] == bob_legs[second.call_id]["hangup_cause"] == "ATTENDED_TRANSFER"
    assert bob_legs[carol_call.call_id]["hangup_cause"] == "NORMAL_CLEARING"
    assert alice_legs[out.call_id]["other_leg_call_id"] == carol_call.call_id
    (entry,) = history(master, office, alice_legs[out.call_id]).values()
    assert entry == {
        "call_id": first.call_id,
        "type": "attended",
        "transferee": out.call_id,
        "transferer": first.call_id,
    }
    assert history(master, office, bob_legs[carol_call.call_id]) == history(master, office, bob_legs[second.call_id])
    assert list(history(master, office, bob_legs[carol_call.call_id]).values()) == [entry]


def test_attended_transfer_between_calls_on_different_codecs_re_offers_the_target(phones, office, master):
    devices = [new_device(master, office, name) for name in ("alice", "bob", "carol")]
    to_bob, to_carol = (new_callflow(master, office, ring_device(device)) for device in devices[1:])
    alice = registered(phones, office, devices[0], codecs=("PCMU",))
    bob = registered(phones, office, devices[1], codecs=("PCMA", "PCMU"))
    carol = registered(phones, office, devices[2], codecs=("PCMA", "PCMU"))
    out, first = connected(alice, bob, to_bob)
    second, carol_call = connected(bob, carol, to_carol)
    assert (out.codec, carol_call.codec) == ("PCMU", "PCMA")
    first.transfer_replacing(second)
    assert first.wait_transfer() == 200
    wait_until(lambda: carol_call.codec == "PCMU", 5.0, "Carol to take Alice's codec")
    assert out.codec == "PCMU"
    assert hear_each_other(alice, carol, out, carol_call)


@pytest.mark.parametrize("tenant", ["other-account", "same-account"])
def test_replaces_naming_a_call_that_is_not_the_transferors_changes_nothing(phones, office, master, server, tenant):
    alice_dev, bob_dev = new_device(master, office, "alice"), new_device(master, office, "bob")
    to_bob = new_callflow(master, office, ring_device(bob_dev))
    elsewhere = new_office(master, server, "Other Tenant", first=8000) if tenant == "other-account" else office
    dave_dev, erin_dev = new_device(master, elsewhere, "dave"), new_device(master, elsewhere, "erin")
    to_erin = new_callflow(master, elsewhere, ring_device(erin_dev))
    alice, bob = registered(phones, office, alice_dev), registered(phones, office, bob_dev)
    dave, erin = registered(phones, elsewhere, dave_dev), registered(phones, elsewhere, erin_dev)
    out, bob_call = connected(alice, bob, to_bob)
    dave_call, erin_call = connected(dave, erin, to_erin)
    bob_call.transfer_replacing(dave_call)  # Bob's REFER names Dave's dialog with us
    assert bob_call.wait_transfer() == 403
    assert hear_each_other(alice, bob, out, bob_call)
    assert hear_each_other(dave, erin, dave_call, erin_call)


class RawCaller:
    """A device calling from a bare socket, so that the test can send REFERs no phone would."""

    def __init__(self, office, device, number: str):
        self.office, self.device = office, device
        self.sip = SipSocket(office.port)
        self.host, self.port = self.sip.address
        self.uri = f"sip:{number}@{office.realm}"
        self.call_id, self.tag, self.to_tag = f"{secrets.token_hex(8)}@test", secrets.token_hex(4), ""
        self.cseq = 0
        self.branch = ""

    def message(
        self, method: str, *extra: str, body: bytes = b"", to_tag: str | None = None, branch: str | None = None
    ) -> bytes:
        """A request of this dialog: the next CSeq (an ACK takes its INVITE's), a new branch unless given."""
        if method != "ACK":
            self.cseq += 1
        to_tag = self.to_tag if to_tag is None else to_tag
        self.branch = branch or f"z9hG4bK{secrets.token_hex(6)}"
        lines = [
            f"{method} {self.uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={self.branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.device.username}@{self.office.realm}>;tag={self.tag}",
            f"To: <{self.uri}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {method}",
            f"Contact: <sip:{self.device.username}@{self.host}:{self.port}>",
            *extra,
            *(["Content-Type: application/sdp"] if body else []),
            f"Content-Length: {len(body)}",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def invite(self) -> None:
        """INVITE, answer the 407, and leave the authenticated INVITE ringing."""
        self.sip.send(self.message("INVITE", body=SDP))
        challenge = self.sip.final()
        assert challenge is not None and challenge.status == 407, challenge
        self.sip.send(self.message("ACK", to_tag=challenge.to.tag or "", branch=self.branch))
        digest = challenges(challenge, "Proxy-Authenticate")["MD5"]
        answer = authorization(digest, "INVITE", self.uri, self.device.username, self.device.password)
        self.sip.send(self.message("INVITE", f"Proxy-Authorization: {answer}", body=SDP))

    def answered(self) -> None:
        final = self.response("INVITE")
        assert final.status == 200, final
        self.to_tag = final.to.tag or ""
        self.sip.send(self.message("ACK"))

    def send(self, method: str, *extra: str) -> Response:
        """An in-dialog request; its final response."""
        self.sip.send(self.message(method, *extra))
        return self.response(method)

    def response(self, method: str) -> Response:
        """The next final response to `method`; requests that come meanwhile (NOTIFY) are answered 200."""
        while True:
            message = self.sip.receive(5.0)
            assert message is not None, f"no answer to {method}"
            if isinstance(message, Request):
                self.sip.send(make_response(message, 200).encode())
            elif (message.cseq.method, message.cseq.number) == (method, self.cseq) and message.status >= 200:
                return message

    def close(self) -> None:
        self.sip.close()


def test_refer_without_a_usable_refer_to_gets_400_and_a_second_refer_491(phones, office, master):
    alice_dev, bob_dev, carol_dev = (new_device(master, office, name) for name in ("alice", "bob", "carol"))
    to_bob, to_carol = (new_callflow(master, office, ring_device(device)) for device in (bob_dev, carol_dev))
    bob, carol = registered(phones, office, bob_dev), registered(phones, office, carol_dev)
    carol_uri = f"Refer-To: <sip:{to_carol}@{office.realm}>"
    alice = RawCaller(office, alice_dev, to_bob)
    try:
        alice.invite()
        bob_call = bob.answer()
        alice.answered()
        assert alice.send("REFER").status == 400
        assert alice.send("REFER", "Refer-To: <mailto:carol@example.com>").status == 400
        assert alice.send("REFER", carol_uri, f"Refer-To: <sip:1@{office.realm}>").status == 400
        assert alice.send("REFER", carol_uri).status == 202
        carol_call = carol.wait_incoming()
        assert alice.send("REFER", carol_uri).status == 491
        carol_call.answer()
        assert hear_each_other(bob, carol, bob_call, carol_call)
    finally:
        alice.close()
