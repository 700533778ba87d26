"""Reliable provisional responses (RFC 3262) and UPDATE (RFC 3311) through the served platform, on both sides of
the B2BUA: pjsua2 phones that require 100rel, a bare UAC that PRACKs wrongly or never, and SIPp callees."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import pytest

from cloudpbx.sip.message import Response
from tests.sip.phones import phones, pump, wait_until  # noqa: F401 - phones is a fixture
from tests.sip.sipp import Sipp
from tests.sip.uac import SipSocket, authorization, challenges
from tests.telephony.test_calls import (  # noqa: F401 - office is a fixture
    header,
    legs_of,
    new_callflow,
    new_device,
    office,
    registered,
    ring_device,
    sipp_callee,
)

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
T1 = 0.5


def options(message: str, *names: str) -> set[str]:
    """The option tags of a raw message's header (`names`: its long and compact forms)."""
    return {tag.strip().lower() for tag in header(message, *names).split(":", 1)[1].split(",")}


def test_a_caller_requiring_100rel_gets_reliable_18x_hears_early_media_and_connects(phones, office, master):
    alice_dev, bob_dev = new_device(master, office, "alice"), new_device(master, office, "bob")
    number = new_callflow(master, office, ring_device(bob_dev))
    alice = registered(phones, office, alice_dev, prack=True)
    bob = registered(phones, office, bob_dev)
    out = alice.call(number)
    incoming = bob.wait_incoming()
    incoming.answer(183)
    incoming.send_tone(425)
    wait_until(lambda: out.code == 183 and out.media == "active", 5.0, "the caller's early media")
    assert out.hears(425), "the callee's ringback reaches the caller before the 200"
    wait_until(lambda: out.count("uac", "PRACK") >= 2, 5.0, "the caller's PRACKs of the 180 and the 183")
    assert out.state == "EARLY"

    incoming.stop_tone()
    incoming.answer()
    out.wait("CONFIRMED")
    out.send_tone(1000)
    incoming.send_tone(1500)
    assert incoming.hears(1000) and out.hears(1500)
    out.hangup()
    incoming.wait("DISCONNECTED")
    assert out.count("uac", "PRACK", 481) == 0


def test_a_callee_requiring_100rel_is_offered_it_and_its_reliable_183_is_pracked(phones, office, master):
    alice_dev, bob_dev = new_device(master, office, "alice"), new_device(master, office, "bob")
    number = new_callflow(master, office, ring_device(bob_dev))
    alice = registered(phones, office, alice_dev)
    bob = registered(phones, office, bob_dev, prack=True)
    out = alice.call(number)
    incoming = bob.wait_incoming()
    assert "100rel" in options(incoming.invite, "supported", "k"), "our INVITE says Supported: 100rel"
    assert {"PRACK", "UPDATE"} <= {m.strip() for m in header(incoming.invite, "allow").split(":", 1)[1].split(",")}
    incoming.answer(183)
    incoming.send_tone(425)
    wait_until(lambda: incoming.count("uas", "PRACK") >= 1, 5.0, "our PRACK of the callee's reliable 18x")
    wait_until(lambda: out.media == "active", 5.0, "the caller's early media")
    assert out.hears(425)
    incoming.stop_tone()
    incoming.answer()
    out.wait("CONFIRMED")
    out.send_tone(1000)
    incoming.send_tone(1500)
    assert incoming.hears(1000) and out.hears(1500)
    incoming.hangup()
    out.wait("DISCONNECTED")


def test_update_in_the_early_and_the_confirmed_dialog_reaches_the_other_phone(phones, office, master):
    alice_dev, bob_dev = new_device(master, office, "alice"), new_device(master, office, "bob")
    number = new_callflow(master, office, ring_device(bob_dev))
    alice = registered(phones, office, alice_dev, prack=True)
    bob = registered(phones, office, bob_dev, prack=True)
    out = alice.call(number)
    incoming = bob.wait_incoming()
    incoming.answer(183)
    wait_until(
        lambda: out.count("uac", "PRACK") >= 2 and incoming.count("uas", "PRACK") >= 1 and out.media == "active",
        5.0,
        "both early offer/answer exchanges to complete",
    )

    offers = len(incoming.offers)
    out.update()  # the caller's UPDATE in its early dialog: on to the callee's early dialog
    wait_until(lambda: incoming.count("uas", "UPDATE") == 1, 5.0, "the callee to get the caller's UPDATE")
    assert len(incoming.offers) == offers + 1 and "m=audio" in incoming.offers[-1]
    offers = len(out.offers)
    incoming.update()  # and back the other way
    wait_until(lambda: out.count("uas", "UPDATE") == 1, 5.0, "the caller to get the callee's UPDATE")
    assert len(out.offers) == offers + 1
    assert out.state == incoming.state == "EARLY"

    incoming.answer()
    out.wait("CONFIRMED")
    updates, offers = incoming.count("uas", "UPDATE"), len(incoming.offers)
    out.update()  # in the confirmed dialog
    wait_until(lambda: incoming.count("uas", "UPDATE") > updates, 5.0, "the callee to get the confirmed UPDATE")
    assert len(incoming.offers) > offers
    out.send_tone(1000)
    incoming.send_tone(1500)
    assert incoming.hears(1000) and out.hears(1500), "media flows after the UPDATEs"
    out.hangup()
    incoming.wait("DISCONNECTED")


class RawCaller:
    """A bare UAC calling `number` as `device` with `Require: 100rel`: answers the 407, then PRACKs only when told."""

    def __init__(self, office, device, number: str, idle: Callable[[float], None] | None = None):
        self.sip = SipSocket(office.port)
        self.idle = idle  # called while nothing arrives (phones.pump: pjsua phones keep working)
        self.host, self.port = self.sip.address
        self.device, self.realm = device, office.realm
        self.uri = f"sip:{number}@{office.realm}"
        self.call_id, self.tag = f"{secrets.token_hex(8)}@test", secrets.token_hex(4)
        self.cseq = 0
        self.branch = self.invite_branch = ""
        self.seen: list[Response] = []

    def request(
        self, method: str, *, extra: tuple[str, ...] = (), to_tag: str = "", cseq: int = 0, body: bytes = b""
    ) -> bytes:
        """A request of this call; ACK and CANCEL belong to the last INVITE (its branch, `cseq` its number)."""
        if method in ("ACK", "CANCEL"):
            branch = self.invite_branch
        else:
            self.cseq += 1
            branch = f"z9hG4bK{secrets.token_hex(6)}"
            if method == "INVITE":
                self.invite_branch = branch
        lines = [
            f"{method} {self.uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.device.username}@{self.realm}>;tag={self.tag}",
            f"To: <{self.uri}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq or self.cseq} {method}",
            f"Contact: <sip:{self.device.username}@{self.host}:{self.port}>",
            *extra,
        ]
        body = SDP if method == "INVITE" else body
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def invite(self) -> int:
        """INVITE requiring 100rel, digest-answered; returns its CSeq number."""
        self.sip.send(self.request("INVITE", extra=("Require: 100rel", "Supported: 100rel")))
        challenge = self.wait(lambda m: m.status == 407, 3.0)
        self.sip.send(self.request("ACK", to_tag=challenge.to.tag, cseq=self.cseq))
        offered = challenges(challenge, "Proxy-Authenticate")["MD5"]
        answer = authorization(offered, "INVITE", self.uri, self.device.username, self.device.password)
        self.sip.send(self.request("INVITE", extra=(f"Proxy-Authorization: {answer}", "Require: 100rel")))
        return self.cseq

    def wait(self, predicate: Callable[[Response], bool], timeout: float) -> Response:
        """The next message that satisfies `predicate` (everything read is kept in `seen`)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.sip.receive(left if self.idle is None else min(left, 0.02))
            if message is None:
                if self.idle is not None:
                    self.idle(0.02)
                    continue
                break
            self.seen.append(message)
            if predicate(message):
                return message
        raise TimeoutError(f"nothing matched within {timeout}s; seen {[m.status for m in self.seen]}")

    def prack(self, rseq: int, invite_cseq: int, to_tag: str, body: bytes = b"") -> Response:
        rack = f"RAck: {rseq} {invite_cseq} INVITE"
        self.sip.send(self.request("PRACK", extra=(rack,), to_tag=to_tag, body=body))
        cseq = self.cseq
        return self.wait(lambda m: m.cseq.method == "PRACK" and m.cseq.number == cseq, 3.0)

    def close(self) -> None:
        self.sip.close()


def reliable_ringing(message: Response) -> bool:
    return message.cseq.method == "INVITE" and message.status == 180


def test_a_prack_naming_no_reliable_response_gets_481_and_the_right_one_200(office, master):
    caller = new_device(master, office, "raw")
    callee, port = sipp_callee(master, office, "ringing")
    number = new_callflow(master, office, ring_device(callee, timeout=20))
    with Sipp("uas_no_answer.xml", port=port) as uas:
        raw = RawCaller(office, caller, number)
        try:
            invite_cseq = raw.invite()
            ringing = raw.wait(reliable_ringing, 5.0)
            assert ringing.get("require") == "100rel" and ringing.to.tag
            rseq = int(ringing.get("rseq"))
            assert raw.prack(rseq + 1, invite_cseq, ringing.to.tag).status == 481
            assert raw.prack(rseq, invite_cseq, ringing.to.tag).status == 200
            assert raw.prack(rseq, invite_cseq, ringing.to.tag).status == 481, "acknowledged already"
            raw.sip.send(raw.request("CANCEL", cseq=invite_cseq))
            assert raw.wait(lambda m: m.status >= 200 and m.cseq.method == "INVITE", 5.0).status == 487
        finally:
            raw.close()
    assert uas.result().successful == 1, uas.result().describe()


@pytest.mark.same_on_every_database  # 32 s of SIP timers (64*T1)
def test_a_reliable_18x_never_pracked_is_retransmitted_then_the_invite_fails_with_500(office, master):
    caller = new_device(master, office, "raw")
    callee, port = sipp_callee(master, office, "ringing")
    number = new_callflow(master, office, ring_device(callee, timeout=60))
    with Sipp("uas_no_answer.xml", port=port) as uas:
        raw = RawCaller(office, caller, number)
        try:
            raw.invite()
            first = raw.wait(reliable_ringing, 5.0)
            final = raw.wait(lambda m: m.status >= 200 and m.cseq.method == "INVITE", 64 * T1 + 10)
            assert final.status == 500
            raw.sip.send(raw.request("ACK", to_tag=final.to.tag, cseq=raw.cseq))
        finally:
            raw.close()
        copies = [m for m in raw.seen if reliable_ringing(m)]
        assert len(copies) >= 6, "sent at 0 and again after T1, 2*T1, 4*T1, 8*T1 and 16*T1"
        assert {m.get("rseq") for m in copies} == {first.get("rseq")}, "copies of one reliable response"
    assert uas.result().successful == 1, "the callee's INVITE is cancelled: " + uas.result().describe()
    [inbound] = [leg for leg in legs_of(master, office, raw.call_id) if leg["direction"] == "inbound"]
    assert inbound["hangup_cause"] == "RECOVERY_ON_TIMER_EXPIRE"


def test_a_prack_with_a_new_offer_is_answered_through_the_callee_s_early_dialog(phones, office, master):
    caller, bob_dev = new_device(master, office, "raw"), new_device(master, office, "bob")
    number = new_callflow(master, office, ring_device(bob_dev))
    bob = registered(phones, office, bob_dev, prack=True)
    raw = RawCaller(office, caller, number, idle=pump)
    try:
        invite_cseq = raw.invite()
        ringing = raw.wait(reliable_ringing, 5.0)
        incoming = bob.wait_incoming()
        incoming.answer(183)
        assert raw.prack(int(ringing.get("rseq")), invite_cseq, ringing.to.tag).status == 200
        early = raw.wait(lambda m: m.cseq.method == "INVITE" and m.status == 183, 5.0)
        assert early.get("require") == "100rel" and b"m=audio" in early.body
        wait_until(lambda: incoming.count("uas", "PRACK") >= 2, 5.0, "our PRACKs of the callee's 180 and 183")
        offers = len(incoming.offers)
        new_offer = SDP.replace(b"40000", b"40010").replace(b"o=- 1 1", b"o=- 1 2")
        answered = raw.prack(int(early.get("rseq")), invite_cseq, early.to.tag, body=new_offer)
        assert answered.status == 200 and b"m=audio" in answered.body, "the 200 to the PRACK carries the answer"
        assert len(incoming.offers) == offers + 1, "the offer reached the callee as an UPDATE in its early dialog"
        raw.sip.send(raw.request("CANCEL", cseq=invite_cseq))
        assert raw.wait(lambda m: m.status >= 200 and m.cseq.method == "INVITE", 5.0).status == 487
        incoming.wait("DISCONNECTED")
    finally:
        raw.close()


def test_a_bye_in_the_caller_s_early_dialog_ends_the_invite_as_a_cancel(office, master):
    caller = new_device(master, office, "raw")
    callee, port = sipp_callee(master, office, "ringing")
    number = new_callflow(master, office, ring_device(callee, timeout=20))
    with Sipp("uas_no_answer.xml", port=port) as uas:
        raw = RawCaller(office, caller, number)
        try:
            invite_cseq = raw.invite()
            ringing = raw.wait(reliable_ringing, 5.0)
            raw.sip.send(raw.request("BYE", to_tag=ringing.to.tag))
            bye_cseq = raw.cseq
            assert raw.wait(lambda m: m.cseq.method == "BYE" and m.cseq.number == bye_cseq, 3.0).status == 200
            final = raw.wait(lambda m: m.status >= 200 and m.cseq.number == invite_cseq, 3.0)
            assert final.status == 487
        finally:
            raw.close()
    assert uas.result().successful == 1, "the callee is cancelled: " + uas.result().describe()
    [inbound] = [leg for leg in legs_of(master, office, raw.call_id) if leg["direction"] == "inbound"]
    assert inbound["hangup_cause"] == "ORIGINATOR_CANCEL"
