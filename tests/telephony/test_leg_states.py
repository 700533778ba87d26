"""A leg's INVITE usage state machine, driven response by response through a small fake of the SIP core's
send/dialog API (what `CallContext.core` offers call control): no B2BUA, no server, no sockets. The fake records
what the leg sends (INVITE, ACK, CANCEL, BYE) and lets the test play the phone's responses."""

from __future__ import annotations

import asyncio

import pytest

from cloudpbx.accounts.cdrs import prepare
from cloudpbx.callflow.call import Target
from cloudpbx.callflow.caller_id import SipIdentity
from cloudpbx.sip.core import SipCore
from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.transaction import make_response
from cloudpbx.sip.transport import Peer
from cloudpbx.state.channels import Channels
from cloudpbx.state.registrations import Registration
from cloudpbx.telephony import causes
from cloudpbx.telephony.context import CallContext
from cloudpbx.telephony.leg import (
    REINVITE_TRANSITIONS,
    TRANSITIONS,
    IllegalTransition,
    Leg,
    LegState,
    ReInvite,
)
from cloudpbx.telephony.outbound import Origin, OutboundLeg
from cloudpbx.telephony.reliability import PRACK_TRANSITIONS, Prack

S = LegState
OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = OFFER.replace(b"4000", b"4002")


class FakeInvite:
    """An INVITE client transaction whose responses the test plays."""

    def __init__(self, request: Request, peer: Peer):
        self.request, self.peer = request, peer
        self.queue: asyncio.Queue[Response] = asyncio.Queue()

    async def responses(self):
        while True:
            response = await self.queue.get()
            yield response
            if response.status >= 200:
                return


class FakeRequestTx:
    """A non-INVITE client transaction (BYE, INFO): answered 200 at once."""

    def __init__(self, request: Request, peer: Peer):
        self.request, self.peer = request, peer
        self.final = asyncio.get_running_loop().create_future()
        self.final.set_result(make_response(request, 200))


class FakeCore:
    """The part of `SipCore` call control uses: build and send requests, ACK and CANCEL an INVITE, keep dialogs."""

    def __init__(self) -> None:
        self.messages = SipCore("127.0.0.1", 5060)  # only builds requests here: never started, sends nothing
        self.address = self.messages.address
        self.transports = {"udp": object()}
        self.sent: list[Request] = []  # every request, ACK and CANCEL in the order the leg sent them
        self.dialogs: dict = {}

    def contact(self, transport: str = "udp", user: str | None = None) -> str:
        return self.messages.contact(transport, user)

    def new_request(self, method: str, uri: str, **fields) -> Request:
        return self.messages.new_request(method, uri, **fields)

    def send_request(self, request: Request, peer: Peer | None = None):
        self.sent.append(request)
        return FakeInvite(request, peer) if request.method == "INVITE" else FakeRequestTx(request, peer)

    def ack(self, tx: FakeInvite, ack: Request) -> None:
        self.sent.append(ack)

    async def cancel(self, tx: FakeInvite) -> None:
        self.sent.append(Request("CANCEL", tx.request.uri))

    def add_dialog(self, dialog) -> None:
        self.dialogs[dialog.id] = dialog

    def remove_dialog(self, dialog) -> None:
        self.dialogs.pop(dialog.id, None)

    def methods(self) -> list[str]:
        return [request.method for request in self.sent]


class Cdrs:
    """Takes ended legs as the CDR writer does (checked by `prepare`, the writer's own schema check)."""

    def __init__(self) -> None:
        self.legs: list[dict] = []

    def record(self, account_id: str, leg: dict) -> None:
        prepare(account_id, leg)
        self.legs.append(leg)


class Ringing:
    """The bridge's side of a ringing leg: what it was told, in order."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, int]] = []

    async def progress(self, leg: OutboundLeg, response: Response) -> None:
        self.heard.append(("progress", response.status))

    def answered(self, leg: OutboundLeg, response: Response) -> None:
        self.heard.append(("answered", response.status))


class ServerTx:
    """The server transaction of an in-dialog request from the phone."""

    def __init__(self) -> None:
        self.replies: list[int] = []
        self.headers: list[list[tuple[str, str]]] = []

    def reply(self, status: int, *args, headers=None, **kwargs) -> None:
        self.replies.append(status)
        self.headers.append(headers or [])


def context(core: FakeCore, cdrs: Cdrs) -> CallContext:
    return CallContext(
        core=core,
        relay=None,
        channels=Channels(),
        registrations=None,
        cdrs=cdrs,
        callflows=None,
        accounts=None,
        node="test@127.0.0.1",
    )


@pytest.fixture
def call():
    """A B leg towards one registered phone, its fake core, its CDRs and what its bridge heard."""
    core, cdrs, ringing = FakeCore(), Cdrs(), Ringing()
    ctx = context(core, cdrs)
    identity = SipIdentity("Alice", "1001", None, "", "")
    origin = Origin("a-leg@127.0.0.1", "interaction-1", "office.example", 70, identity)
    device = {"_id": "d" * 32, "name": "Bob's phone", "sip": {"username": "bob"}}
    target = Target("a" * 32, device, timeout_s=20)
    registration = Registration(
        "a" * 32, "d" * 32, "bob", "office.example", "sip:bob@127.0.0.1:5070", "127.0.0.1:5070", "test", 0.0
    )
    registration.reach = "127.0.0.1:5070"
    leg = OutboundLeg(ctx, origin, target, registration)
    return leg, core, cdrs, ringing


def ring(leg: OutboundLeg, ringing: Ringing, body: bytes = OFFER) -> FakeInvite:
    leg.ring(body, ringing)
    return leg.tx


async def play(
    leg: OutboundLeg, tx: FakeInvite, status: int, *, tagged: bool = True, body: bytes = b"", rseq: int = 0
) -> None:
    """The phone's response to the leg's INVITE (To tagged unless told; reliable with `rseq`), and time for the leg
    to act on it."""
    headers = [("Contact", "<sip:bob@127.0.0.1:5070>")] if 100 < status < 300 else []
    if rseq:
        headers += [("Require", "100rel"), ("RSeq", str(rseq)), ("Allow", "INVITE, ACK, BYE, PRACK, UPDATE")]
    tag = "phone" if tagged else None
    tx.queue.put_nowait(make_response(tx.request, status, to_tag=tag, headers=headers, body=body))
    for _ in range(5):
        await asyncio.sleep(0)


def in_dialog(leg: OutboundLeg, method: str) -> Request:
    """A request from the phone inside the leg's dialog."""
    dialog = leg.up
    request = Request(method, dialog.local_contact)
    request.add("Call-ID", leg.call_id)
    return request


# the table ---------------------------------------------------------------------------------------------------


def plain_leg(state: LegState) -> Leg:
    return Leg(
        context(FakeCore(), Cdrs()),
        side="b",
        call_id="table@127.0.0.1",
        account_id="a" * 32,
        direction="outbound",
        device=None,
        interaction_id="i",
        bridge_id="b",
        from_uri="sip:1001@office.example",
        to_uri="sip:bob@office.example",
        request_uri="sip:bob@127.0.0.1:5070",
        realm="office.example",
        state=state,
    )


@pytest.mark.parametrize(("was", "to"), [(was, to) for was, tos in TRANSITIONS.items() for to in sorted(tos, key=str)])
def test_every_legal_transition_is_taken(was, to):
    leg = plain_leg(was)
    assert leg.move(to) is was
    assert leg.state is to


@pytest.mark.parametrize(
    ("was", "to"), [(was, to) for was in LegState for to in LegState if to not in TRANSITIONS[was]]
)
def test_an_illegal_transition_is_refused(was, to):
    leg = plain_leg(was)
    with pytest.raises(IllegalTransition):
        leg.move(to)
    assert leg.state is was


def test_a_terminated_leg_moves_nowhere_and_ends_once():
    leg = plain_leg(S.CONFIRMED)
    assert leg.end(causes.NORMAL_CLEARING, 200, "recv_bye") is True
    assert leg.end(causes.NORMAL_CLEARING, 200, "recv_bye") is False
    assert TRANSITIONS[S.TERMINATED] == frozenset()
    with pytest.raises(IllegalTransition):
        leg.move(S.CONFIRMED)


@pytest.mark.parametrize(
    ("was", "to"), [(was, to) for was, tos in REINVITE_TRANSITIONS.items() for to in sorted(tos, key=str)]
)
def test_every_reinvite_transition_on_an_answered_leg(was, to):
    leg = plain_leg(S.CONFIRMED)
    leg.reinvite = was
    leg.renegotiate(to)
    assert leg.reinvite is to


def test_a_reinvite_is_refused_while_one_is_in_progress_or_before_the_answer():
    leg = plain_leg(S.CONFIRMED)
    leg.renegotiate(ReInvite.RECEIVED)
    with pytest.raises(IllegalTransition):
        leg.renegotiate(ReInvite.SENT)
    ringing = plain_leg(S.EARLY)
    with pytest.raises(IllegalTransition):
        ringing.renegotiate(ReInvite.RECEIVED)
    assert ringing.reinvite is ReInvite.IDLE


# a leg driven by its phone's responses -----------------------------------------------------------------------


async def test_calling_proceeding_early_confirmed_then_our_bye(call):
    leg, core, cdrs, ringing = call
    assert leg.state is S.CALLING
    tx = ring(leg, ringing)
    settled = leg.settled()
    await play(leg, tx, 100, tagged=False)
    assert leg.state is S.PROCEEDING
    await play(leg, tx, 180)
    assert leg.state is S.EARLY
    await play(leg, tx, 183)
    assert leg.state is S.EARLY
    assert not settled.done()
    await play(leg, tx, 200, body=ANSWER)
    assert leg.state is S.CONFIRMED  # an answer to our offer: ACKed at once
    assert settled.done()
    assert ringing.heard == [("progress", 180), ("progress", 183), ("answered", 200)]
    assert core.methods() == ["INVITE", "ACK"]
    assert leg.dialog is not None and leg.dialog.id in core.dialogs
    leg.bye(causes.NORMAL_CLEARING)
    assert leg.state is S.TERMINATED
    assert core.methods() == ["INVITE", "ACK", "BYE"]
    assert core.dialogs == {}
    assert [(cdr["disposition"], cdr["hangup_cause"]) for cdr in cdrs.legs] == [("send_bye", "NORMAL_CLEARING")]


async def test_a_late_offer_stays_accepted_until_the_answer_is_acked(call):
    leg, core, _, ringing = call
    tx = ring(leg, ringing, body=b"")
    await play(leg, tx, 200, body=OFFER)
    assert leg.state is S.ACCEPTED  # the caller's ACK brings the answer
    assert core.methods() == ["INVITE"]
    assert leg.settled().done()
    leg.ack(ANSWER)
    assert leg.state is S.CONFIRMED
    assert core.methods() == ["INVITE", "ACK"]
    assert core.sent[-1].body == ANSWER
    leg.ack(b"")  # no ACK owed any more: nothing sent
    assert core.methods() == ["INVITE", "ACK"]


async def test_failure_in_proceeding(call):
    leg, core, cdrs, ringing = call
    tx = ring(leg, ringing)
    await play(leg, tx, 100, tagged=False)
    assert leg.state is S.PROCEEDING
    await play(leg, tx, 486)
    assert leg.state is S.TERMINATED
    assert leg.settled().done()
    assert ringing.heard == []
    assert (leg.cause, leg.code, leg.disposition) == (causes.USER_BUSY, 486, "recv_refuse")
    assert core.methods() == ["INVITE"]  # the transaction ACKs a failure itself
    assert cdrs.legs[0]["hangup_code"] == 486


async def test_cancel_during_early(call):
    leg, core, cdrs, ringing = call
    tx = ring(leg, ringing)
    await play(leg, tx, 180)
    assert leg.state is S.EARLY
    leg.cancel(causes.LOSE_RACE)
    await asyncio.sleep(0)
    assert leg.state is S.CANCELLING
    assert core.methods() == ["INVITE", "CANCEL"]
    leg.cancel(causes.NO_ANSWER)  # once is enough
    await play(leg, tx, 180)  # a provisional response crossing the CANCEL: nobody hears of it
    assert leg.state is S.CANCELLING
    assert ringing.heard == [("progress", 180)]
    await play(leg, tx, 487)
    assert leg.state is S.TERMINATED
    assert (leg.cause, leg.code, leg.disposition) == (causes.LOSE_RACE, 487, "send_cancel")
    assert core.methods() == ["INVITE", "CANCEL"]
    assert len(cdrs.legs) == 1


async def test_a_2xx_after_cancel_is_acked_and_hung_up(call):
    leg, core, cdrs, ringing = call
    tx = ring(leg, ringing)
    await play(leg, tx, 180)
    leg.cancel(causes.ORIGINATOR_CANCEL)
    await play(leg, tx, 200, body=ANSWER)
    assert leg.state is S.TERMINATED
    assert core.methods() == ["INVITE", "CANCEL", "ACK", "BYE"]
    assert ringing.heard == [("progress", 180)]  # the bridge never hears of that answer
    assert (leg.cause, leg.disposition) == (causes.ORIGINATOR_CANCEL, "send_bye")
    assert core.dialogs == {}
    assert len(cdrs.legs) == 1


async def test_a_late_offer_2xx_after_cancel_is_acked_before_the_bye(call):
    leg, core, _, ringing = call
    tx = ring(leg, ringing, body=b"")
    leg.cancel(causes.NO_ANSWER)
    await asyncio.sleep(0)
    assert leg.state is S.CANCELLING
    await play(leg, tx, 200, body=OFFER)
    assert leg.state is S.TERMINATED
    assert core.methods() == ["INVITE", "CANCEL", "ACK", "BYE"]


async def test_bye_from_the_phone_in_confirmed(call):
    leg, core, cdrs, ringing = call
    tx = ring(leg, ringing)
    await play(leg, tx, 200, body=ANSWER)
    assert leg.state is S.CONFIRMED
    server_tx = ServerTx()
    leg.up.handler(in_dialog(leg, "BYE"), server_tx)
    assert server_tx.replies == [200]
    assert leg.state is S.TERMINATED
    assert (leg.cause, leg.disposition) == (causes.NORMAL_CLEARING, "recv_bye")
    assert core.dialogs == {}
    leg.bye(causes.NORMAL_CLEARING)  # ended already: no BYE of ours
    assert core.methods() == ["INVITE", "ACK"]
    assert len(cdrs.legs) == 1


async def test_cancelling_an_answered_leg_hangs_it_up(call):
    leg, core, _, ringing = call
    tx = ring(leg, ringing)
    await play(leg, tx, 200, body=ANSWER)
    leg.cancel(causes.LOSE_RACE)
    assert leg.state is S.TERMINATED
    assert core.methods() == ["INVITE", "ACK", "BYE"]
    assert leg.cause == causes.LOSE_RACE


async def test_when_waits_for_a_state(call):
    leg, _, _, ringing = call
    tx = ring(leg, ringing)
    ended = leg.when((S.TERMINATED,))
    await play(leg, tx, 180)
    assert not ended.done()
    await play(leg, tx, 603)
    assert ended.result() is S.TERMINATED
    assert leg.when((S.TERMINATED,)).done()


# reliable provisional responses and UPDATE ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("was", "to"), [(was, to) for was, tos in PRACK_TRANSITIONS.items() for to in sorted(tos, key=str)]
)
def test_every_legal_prack_transition_is_taken(was, to):
    leg = plain_leg(S.EARLY)
    leg.prack = was
    leg.acknowledging(to)
    assert leg.prack is to


@pytest.mark.parametrize(
    ("was", "to"), [(was, to) for was in Prack for to in Prack if to not in PRACK_TRANSITIONS[was]]
)
def test_an_illegal_prack_transition_is_refused(was, to):
    leg = plain_leg(S.EARLY)
    leg.prack = was
    with pytest.raises(IllegalTransition):
        leg.acknowledging(to)
    assert leg.prack is was


async def test_only_an_invite_with_an_offer_says_supported_100rel(call):
    leg, _, _, ringing = call
    assert ring(leg, ringing).request.get("supported") == "100rel"
    late = OutboundLeg(leg.ctx, leg.origin, leg.target, leg.registration)
    assert ring(late, ringing, body=b"").request.get("supported") is None


async def test_a_reliable_18x_is_pracked_once_in_its_early_dialog_which_the_2xx_confirms(call):
    leg, core, cdrs, ringing = call
    tx = ring(leg, ringing)
    await play(leg, tx, 183, rseq=7, body=ANSWER)
    assert leg.state is S.EARLY
    prack = core.sent[-1]
    assert (prack.method, prack.get("rack"), prack.to.tag, prack.cseq.number) == ("PRACK", "7 1 INVITE", "phone", 2)
    assert leg.prack is Prack.IDLE, "its 200 came"
    assert leg.dialog is not None and leg.dialog.id in core.dialogs, "the early dialog takes the phone's requests"
    assert leg.takes_update(), "early offer/answer done, UPDATE allowed by the phone"
    await play(leg, tx, 183, rseq=7, body=ANSWER)  # a copy: neither PRACKed nor reported again
    await play(leg, tx, 180, rseq=9)  # out of order: dropped
    assert core.methods() == ["INVITE", "PRACK"]
    await play(leg, tx, 180, rseq=8)
    assert core.methods() == ["INVITE", "PRACK", "PRACK"]
    assert ringing.heard == [("progress", 183), ("progress", 180)]
    early = leg.dialog
    await play(leg, tx, 200, body=ANSWER)
    assert leg.state is S.CONFIRMED and leg.dialog is early, "the 2xx confirms the early dialog"
    leg.bye(causes.NORMAL_CLEARING)
    assert [(r.method, r.cseq.number) for r in core.sent if r.method != "INVITE"] == [
        ("PRACK", 2),
        ("PRACK", 3),
        ("ACK", 1),
        ("BYE", 4),
    ], "the dialog's CSeq goes on after the PRACKs"
    assert core.dialogs == {} and len(cdrs.legs) == 1


async def test_an_early_update_from_the_callee_with_nobody_to_pass_it_to(call):
    leg, _, _, ringing = call
    tx = ring(leg, ringing)
    await play(leg, tx, 183, rseq=1, body=ANSWER)
    refresh = ServerTx()
    await leg.up.handler(in_dialog(leg, "UPDATE"), refresh)
    offer = in_dialog(leg, "UPDATE")
    offer.body = OFFER
    no_media = ServerTx()
    await leg.up.handler(offer, no_media)
    stray = ServerTx()
    leg.up.handler(in_dialog(leg, "PRACK"), stray)
    assert (refresh.replies, no_media.replies, stray.replies) == ([200], [500], [481])
    assert [name for name, _ in no_media.headers[0]] == ["Retry-After"], "500 with Retry-After (RFC 3311 5.2)"
    assert leg.reinvite is ReInvite.IDLE and leg.state is S.EARLY
