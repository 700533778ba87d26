"""Reliable provisional responses (RFC 3262) in the stack alone: RAck and RSeq, an INVITE server transaction's
reliable 18x sent to a raw UDP peer (retransmitted with T1 doubling until PRACKed, one at a time, given up after
64*T1), and the client side's choice of what to PRACK. Timers are shrunk as in test_transactions."""

from __future__ import annotations

import asyncio

import pytest

from cloudpbx.sip.headers import CSeq, HeaderError, RAck, parse_rseq
from cloudpbx.sip.reliable import Acknowledgements, ReliableProvisionals, is_reliable, offers_100rel
from cloudpbx.sip.transaction import make_response
from tests.sip.test_transactions import FAST, RawPeer, cores, request, response_to  # noqa: F401 - cores: fixture


def test_rack_and_rseq_parse_and_print():
    assert RAck.parse(" 776656  1 INVITE ") == RAck(776656, 1, "INVITE")
    assert str(RAck(5, 2, "INVITE")) == "5 2 INVITE"
    assert parse_rseq("988789") == 988789
    for bad in ("", "1 INVITE", "0 1 INVITE", "x 1 INVITE", "1 2 3 4", "99999999999 1 INVITE"):
        with pytest.raises(HeaderError):
            RAck.parse(bad)
    for bad in ("0", "-1", "2147483648", "abc"):
        with pytest.raises(HeaderError):
            parse_rseq(bad)


async def ringing_server(cores):
    """A core whose INVITE handler queues each transaction's `ReliableProvisionals`; the Call-IDs of the INVITEs
    whose reliable 18x failed."""
    core = await cores()
    failures: list[str] = []
    taken: asyncio.Queue[ReliableProvisionals] = asyncio.Queue()

    def take(req, tx):
        taken.put_nowait(ReliableProvisionals(tx, lambda: failures.append(req.call_id)))

    core.on("INVITE", take)
    core.supported.add("100rel")
    return core, failures, taken


async def next_invite_response(peer: RawPeer, within_s: float = 1.0):
    while (message := await peer.next(within_s)) is not None:
        if message.cseq.method == "INVITE" and message.status > 100:
            return message
    return None


async def test_a_reliable_18x_is_resent_until_pracked_and_the_next_waits_its_turn(cores):
    core, failures, taken = await ringing_server(cores)
    phone = await RawPeer.open()
    invite = request("INVITE", phone.port, cseq=7, headers=(("Supported", "100rel"),))
    assert offers_100rel(invite)
    phone.send(invite, core.port)
    sender = await asyncio.wait_for(taken.get(), 2.0)
    tx = sender.tx
    sender.send(make_response(invite, 180, to_tag=tx.to_tag))
    sender.send(make_response(invite, 183, to_tag=tx.to_tag, body=b"v=0\r\n"))  # waits for the 180's PRACK
    copies = [await next_invite_response(phone) for _ in range(3)]
    assert [c.status for c in copies] == [180, 180, 180], "resent, and the 183 not sent before the PRACK"
    assert all(is_reliable(c) and c.get("require") == "100rel" for c in copies)
    rseq = int(copies[0].get("rseq"))
    assert {int(c.get("rseq")) for c in copies} == {rseq}
    assert not sender.prack(RAck(rseq, 6, "INVITE")), "another INVITE's CSeq"
    assert not sender.prack(RAck(rseq + 1, 7, "INVITE")), "not sent yet"
    assert sender.prack(RAck(rseq, 7, "INVITE"))
    early = await next_invite_response(phone)
    while early.status == 180:  # copies sent before the PRACK
        early = await next_invite_response(phone)
    assert early.status == 183 and int(early.get("rseq")) == rseq + 1 and early.body
    waiting = asyncio.ensure_future(sender.acknowledged())
    await asyncio.sleep(0)
    assert not waiting.done() and sender.outstanding
    assert not sender.prack(RAck(rseq, 7, "INVITE")), "PRACKed already"
    assert sender.prack(RAck(rseq + 1, 7, "INVITE"))
    assert await waiting is True and not sender.outstanding
    assert failures == []
    phone.close()


async def test_a_reliable_18x_never_pracked_fails_after_64_t1(cores):
    core, failures, taken = await ringing_server(cores)
    phone = await RawPeer.open()
    invite = request("INVITE", phone.port, headers=(("Require", "100rel"),))
    phone.send(invite, core.port)
    sender = await asyncio.wait_for(taken.get(), 2.0)
    sender.send(make_response(invite, 180, to_tag=sender.tx.to_tag))
    assert await asyncio.wait_for(sender.acknowledged(), 64 * FAST.t1 * 3) is False
    assert failures == [invite.call_id] and not sender.outstanding
    sent = [m for _, m in await phone.collect(0.05) if m.cseq.method == "INVITE" and m.status == 180]
    assert len(sent) >= 3, "sent, then again after T1, 2*T1, 4*T1 ... until 64*T1"
    phone.close()


async def test_a_final_response_stops_the_retransmissions(cores):
    core, failures, taken = await ringing_server(cores)
    phone = await RawPeer.open()
    invite = request("INVITE", phone.port, headers=(("Supported", "100rel"),))
    phone.send(invite, core.port)
    sender = await asyncio.wait_for(taken.get(), 2.0)
    sender.send(make_response(invite, 180, to_tag=sender.tx.to_tag))
    assert (await next_invite_response(phone)).status == 180
    sender.tx.reply(486)
    sender.stop()
    assert await sender.acknowledged() is True
    later = [m.status for _, m in await phone.collect(64 * FAST.t1 + 0.2) if m.cseq.method == "INVITE"]
    assert 180 not in later and failures == []
    phone.close()


def test_the_client_pracks_each_reliable_response_once_in_order_per_early_dialog():
    invite = request("INVITE", 5060, cseq=3)
    acks = Acknowledgements()

    def reliable(rseq: int, tag: str = "t1"):
        response = response_to(invite, 183, to_tag=tag)
        response.add("Require", "100rel")
        response.add("RSeq", str(rseq))
        return response

    cseq = CSeq(3, "INVITE")
    assert acks.rack(reliable(10), cseq) == RAck(10, 3, "INVITE")
    assert acks.rack(reliable(10), cseq) is None, "a copy: not PRACKed again"
    assert acks.rack(reliable(12), cseq) is None, "out of order"
    assert acks.rack(reliable(11), cseq) == RAck(11, 3, "INVITE")
    assert acks.rack(reliable(500, "t2"), cseq) == RAck(500, 3, "INVITE"), "another early dialog counts alone"
    with pytest.raises(HeaderError):
        acks.rack(reliable(0), cseq)
    assert not is_reliable(response_to(invite, 183))
