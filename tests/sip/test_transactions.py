"""Transactions, dialogs and the core's own answers, between real endpoints on 127.0.0.1.

Cores run in the test's event loop with RFC 3261 timers shrunk 25 times (T1 = 20 ms), so that retransmission
schedules and timeouts play out in about a second. A raw UDP socket stands in for a peer when the test needs
to see (or withhold) individual packets.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import socket
import time

import pytest

from cloudpbx.sip.core import SipCore
from cloudpbx.sip.dialog import Dialog
from cloudpbx.sip.message import Request, Response, parse
from cloudpbx.sip.transaction import Timers
from cloudpbx.sip.transport import Peer

FAST = Timers(t1=0.02, t2=0.08, t4=0.1)
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


@pytest.fixture
async def cores():
    """A factory of started cores (fast timers, port 0), all stopped after the test."""
    started = []

    async def make(**kwargs) -> SipCore:
        core = SipCore("127.0.0.1", 0, timers=FAST, **kwargs)
        await core.start()
        started.append(core)
        return core

    yield make
    for core in started:
        await core.stop()


class RawPeer(asyncio.DatagramProtocol):
    """A UDP socket that records every message with its arrival time and sends whatever the test writes."""

    def __init__(self):
        self.messages: asyncio.Queue = asyncio.Queue()
        self.transport = None

    @classmethod
    async def open(cls) -> RawPeer:
        peer = cls()
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: peer, local_addr=("127.0.0.1", 0))
        return peer

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.messages.put_nowait((time.monotonic(), parse(data)))

    @property
    def port(self) -> int:
        return self.transport.get_extra_info("sockname")[1]

    def send(self, message: Request | Response | bytes, port: int) -> None:
        self.transport.sendto(message if isinstance(message, bytes) else message.encode(), ("127.0.0.1", port))

    async def next(self, within_s: float = 1.0):
        try:
            return (await asyncio.wait_for(self.messages.get(), within_s))[1]
        except TimeoutError:
            return None

    async def collect(self, seconds: float) -> list[tuple[float, object]]:
        await asyncio.sleep(seconds)
        found = []
        while not self.messages.empty():
            found.append(self.messages.get_nowait())
        return found

    def close(self) -> None:
        self.transport.close()


def acknowledgement(invite: Request, failure: Response, port: int) -> Request:
    """The ACK a phone sends for a failure response to its INVITE (same branch: part of the INVITE's transaction)."""
    return request("ACK", port, branch=invite.via.branch, call_id=invite.call_id, to_tag=failure.to.tag)


def request(
    method: str,
    port: int,
    *,
    branch: str | None = None,
    call_id: str = "",
    cseq: int = 1,
    from_tag: str = "ft",
    to_tag: str | None = None,
    host: str = "127.0.0.1",
    rport: bool = True,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
) -> Request:
    """A request as a phone on `port` would send it."""
    msg = Request(method, "sip:service@127.0.0.1")
    msg.add(
        "Via",
        f"SIP/2.0/UDP {host}:{port};branch={branch or 'z9hG4bK' + secrets.token_hex(5)}" + (";rport" if rport else ""),
    )
    msg.add("Max-Forwards", "70")
    msg.add("From", f"<sip:phone@127.0.0.1>;tag={from_tag}")
    msg.add("To", "<sip:service@127.0.0.1>" + (f";tag={to_tag}" if to_tag else ""))
    msg.add("Call-ID", call_id or secrets.token_hex(6))
    msg.add("CSeq", f"{cseq} {method}")
    msg.add("Contact", f"<sip:phone@127.0.0.1:{port}>")
    for name, value in headers:
        msg.add(name, value)
    if body:
        msg.set("Content-Type", "application/sdp")
        msg.body = body
    return msg


def response_to(req: Request, status: int, to_tag: str = "tt", body: bytes = b"") -> Response:
    resp = Response(status)
    for name in ("via", "from", "call-id", "cseq"):
        for value in req.get_all(name):
            resp.add(name, value)
    resp.add("To", f"{req.get('to')};tag={to_tag}")
    resp.add("Contact", "<sip:phone@127.0.0.1>")
    if body:
        resp.set("Content-Type", "application/sdp")
        resp.body = body
    return resp


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


# client transactions ---------------------------------------------------------------------------------------------


async def timed(attempt, tries: int = 3):
    """Run a timing check up to `tries` times, passing when one run passes: the loop shares two cores with other
    processes, and one late wake-up says nothing about the timers, while a wrong timer fails every run. Returns what
    the passing run returned."""
    for left in range(tries - 1, -1, -1):
        try:
            return await attempt()
        except AssertionError:
            if not left:
                raise


async def test_non_invite_client_retransmits_up_to_t2_then_times_out(cores):
    async def attempt():
        core, silent = await cores(), await RawPeer.open()
        started = time.monotonic()
        tx = core.send_request(
            core.new_request("OPTIONS", f"sip:x@127.0.0.1:{silent.port}", from_="<sip:a@b>", to="<sip:x@b>"),
            Peer("udp", "127.0.0.1", silent.port),
        )
        final = await asyncio.wait_for(tx.final, 3)
        copies = [t for t, _ in await silent.collect(0.05)]
        silent.close()
        assert final.status == 408 and time.monotonic() - started == pytest.approx(64 * FAST.t1, abs=0.3)
        intervals = gaps(copies)
        assert len(copies) >= 10, "timer E keeps retransmitting"
        assert intervals[0] == pytest.approx(FAST.t1, abs=0.015)
        assert intervals[1] == pytest.approx(2 * FAST.t1, abs=0.02)
        assert max(intervals) < FAST.t2 + 0.04, "capped at T2"

    await timed(attempt)


async def test_invite_client_timer_a_doubles_and_a_provisional_stops_it(cores):
    async def doubling():
        core, phone = await cores(), await RawPeer.open()
        invite = core.new_request(
            "INVITE", f"sip:x@127.0.0.1:{phone.port}", from_="<sip:a@b>", to="<sip:x@b>", body=SDP
        )
        tx = core.send_request(invite, Peer("udp", "127.0.0.1", phone.port))
        copies = await phone.collect(0.33)
        ratios = [round(g / FAST.t1) for g in gaps([t for t, _ in copies])]
        if ratios != [1, 2, 4, 8]:
            phone.close()  # this run's phone is done with: the next run takes a new one
        assert ratios == [1, 2, 4, 8], "sent at 0, T1, 3T1, 7T1, 15T1"
        return core, phone, tx, copies

    core, phone, tx, copies = await timed(doubling)

    received = copies[0][1]
    phone.send(response_to(received, 180), core.port)
    await asyncio.sleep(0.01)
    assert await phone.collect(0.3) == [], "no retransmission once something is ringing"
    phone.send(response_to(received, 486), core.port)
    ack = await phone.next()
    assert ack.method == "ACK" and ack.cseq.number == received.cseq.number and ack.to.tag == "tt"
    assert ack.via.branch == received.via.branch, "the ACK of a failure belongs to the INVITE transaction"
    phone.send(response_to(received, 486), core.port)
    assert (await phone.next()).method == "ACK", "a retransmitted failure is ACKed again"
    assert [r.status async for r in tx.responses()] == [180, 486]
    phone.close()


async def test_invite_client_times_out_with_408(cores):
    async def attempt():
        core, silent = await cores(), await RawPeer.open()
        tx = core.send_request(
            core.new_request("INVITE", "sip:x@127.0.0.1", from_="<sip:a@b>", to="<sip:x@b>"),
            Peer("udp", "127.0.0.1", silent.port),
        )
        final = await asyncio.wait_for(tx.final, 3)
        sent = await silent.collect(0.01)
        silent.close()
        assert final.status == 408
        assert len(sent) == 7, "timer B fires after 64*T1: 7 sends"

    await timed(attempt)


# server transactions ---------------------------------------------------------------------------------------------


async def test_a_retransmitted_request_gets_the_same_answer_and_reaches_the_handler_once(cores):
    core, phone = await cores(), await RawPeer.open()
    calls = []

    async def slow_register(req, tx):
        calls.append(req.cseq.number)
        await asyncio.sleep(0.1)
        tx.reply(200)

    core.on("REGISTER", slow_register)
    register = request("REGISTER", phone.port)
    phone.send(register, core.port)
    await asyncio.sleep(0.02)
    phone.send(register, core.port)
    first = await phone.next()
    phone.send(register, core.port)
    again = await phone.next()
    assert calls == [1] and first.status == again.status == 200
    assert first.to.tag == again.to.tag, "the very same response"
    assert await phone.next(0.1) is None
    phone.close()


async def test_invite_failure_is_retransmitted_until_the_ack(cores):
    core, phone = await cores(), await RawPeer.open()
    core.on("INVITE", lambda req, tx: tx.reply(486))
    invite = request("INVITE", phone.port, body=SDP)
    phone.send(invite, core.port)
    busy = await phone.next()
    assert busy.status == 486, "an INVITE answered at once gets no 100 Trying first"
    copies = await phone.collect(0.2)
    assert len(copies) >= 3 and all(m.status == 486 for _, m in copies), "timer G"
    ack = request("ACK", phone.port, branch=invite.via.branch, call_id=invite.call_id, to_tag=busy.to.tag)
    phone.send(ack, core.port)
    await asyncio.sleep(0.01)
    phone.messages = asyncio.Queue()
    assert await phone.collect(0.3) == [], "the ACK ends the retransmissions"
    phone.close()


async def test_a_2xx_is_retransmitted_until_its_ack_and_a_missing_ack_is_reported(cores):
    core, phone = await cores(), await RawPeer.open()
    acks, timeouts = [], []

    def answer(req, tx):
        tx.on_ack_timeout(lambda: timeouts.append(req.call_id))
        tx.reply(200, body=SDP)

    core.on("INVITE", answer)
    core.on("ACK", lambda ack, invite_tx: acks.append((ack.call_id, invite_tx.request.call_id)))
    invite = request("INVITE", phone.port, body=SDP)
    phone.send(invite, core.port)
    ok = await phone.next()
    assert ok.status == 200 and ok.body == SDP
    assert len(await phone.collect(0.15)) >= 2, "the 2xx is retransmitted"
    phone.send(request("ACK", phone.port, call_id=invite.call_id, to_tag=ok.to.tag), core.port)
    await asyncio.sleep(0.01)
    phone.messages = asyncio.Queue()
    assert await phone.collect(0.2) == [] and acks == [(invite.call_id, invite.call_id)]

    unacked = request("INVITE", phone.port, body=SDP)
    phone.send(unacked, core.port)
    await asyncio.sleep(64 * FAST.t1 + 0.2)
    assert timeouts == [unacked.call_id]
    phone.close()


async def test_cancel_ends_a_ringing_invite_with_487(cores):
    core, phone = await cores(), await RawPeer.open()
    cancelled = []

    def ring(req, tx):
        tx.on_cancel(lambda: cancelled.append(req.call_id))
        tx.reply(180)

    core.on("INVITE", ring)
    invite = request("INVITE", phone.port, body=SDP)
    phone.send(invite, core.port)
    assert (await phone.next()).status == 180
    cancel = request("CANCEL", phone.port, branch=invite.via.branch, call_id=invite.call_id)
    phone.send(cancel, core.port)
    answers = {(m.status, m.cseq.method) for m in [await phone.next(), await phone.next()]}
    assert answers == {(200, "CANCEL"), (487, "INVITE")} and cancelled == [invite.call_id]
    stray = request("CANCEL", phone.port, call_id="nothing-like-it")
    phone.send(stray, core.port)
    assert (await phone.next()).status == 481
    phone.close()


# the core's own answers ----------------------------------------------------------------------------------------


async def test_received_and_rport_and_symmetric_responses(cores):
    core, phone = await cores(), await RawPeer.open()
    phone.send(request("OPTIONS", 5060, host="10.9.9.9"), core.port)
    ok = await phone.next()
    assert ok.status == 200 and "OPTIONS" in ok.get("allow")
    assert ok.via.params["received"] == "127.0.0.1" and ok.via.params["rport"] == str(phone.port)
    phone.send(request("OPTIONS", 5060, host="10.9.9.9", rport=False), core.port)
    ok = await phone.next()
    assert ok is not None, "answered at the source address even though the Via names 10.9.9.9:5060"
    assert ok.via.params == {"branch": ok.via.branch, "received": "127.0.0.1"}
    phone.close()


async def test_a_core_on_every_address_announces_the_one_given(cores):
    """Bound to 0.0.0.0, the core names its announce address in Via, Contact and Call-ID, never 0.0.0.0."""
    core = SipCore("0.0.0.0", 0, timers=FAST, announce="127.0.0.1")
    await core.start()
    phone = await RawPeer.open()
    try:
        options = core.new_request(
            "OPTIONS",
            f"sip:phone@127.0.0.1:{phone.port}",
            from_="<sip:pbx@127.0.0.1>",
            to=f"<sip:phone@127.0.0.1:{phone.port}>",
            contact=core.contact(),
        )
        core.send_request(options)
        sent = await phone.next()
        assert sent.via.host == "127.0.0.1" and sent.via.port == core.port
        assert sent.contacts[0].uri.host == "127.0.0.1" and sent.call_id.endswith("@127.0.0.1")
    finally:
        phone.close()
        await core.stop()


async def test_loops_and_hops(cores):
    core, phone = await cores(), await RawPeer.open()
    core.on("INVITE", lambda req, tx: tx.reply(486))
    core.on("MESSAGE", lambda req, tx: None, accept=("text/plain",))  # never answers: the transaction stays

    to_itself = core.send_request(
        core.new_request("OPTIONS", f"sip:me@127.0.0.1:{core.port}", from_="<sip:a@b>", to="<sip:me@b>")
    )
    assert (await asyncio.wait_for(to_itself.final, 1)).status == 482

    first = request("MESSAGE", phone.port, call_id="merge-1")
    phone.send(first, core.port)
    same_by_another_path = request("MESSAGE", phone.port, call_id="merge-1")
    phone.send(same_by_another_path, core.port)
    merged = await phone.next()
    assert merged.status == 482 and merged.via.branch == same_by_another_path.via.branch

    no_hops = request("INVITE", phone.port)
    no_hops.set("Max-Forwards", "0")
    phone.send(no_hops, core.port)
    assert (await phone.next()).status == 483
    ping = request("OPTIONS", phone.port)
    ping.set("Max-Forwards", "0")
    phone.send(ping, core.port)
    assert (await phone.next()).status == 200, "OPTIONS ends here"
    phone.close()


async def test_unknown_and_unavailable_methods_extensions_and_bodies(cores):
    core, phone = await cores(), await RawPeer.open()
    core.on("INVITE", lambda req, tx: tx.reply(486), accept=("application/sdp",))
    phone.send(request("FROBNICATE", phone.port), core.port)
    assert (await phone.next()).status == 501
    phone.send(request("SUBSCRIBE", phone.port), core.port)
    refused = await phone.next()
    assert refused.status == 405 and refused.get("allow") == "ACK, CANCEL, INVITE, OPTIONS"
    phone.send(request("OPTIONS", phone.port, headers=(("Require", "100rel, timer"),)), core.port)
    bad_ext = await phone.next()
    assert bad_ext.status == 420 and bad_ext.get("unsupported") == "100rel, timer"
    odd_body = request("INVITE", phone.port, body=b"<xml/>")
    odd_body.set("Content-Type", "application/xml")
    phone.send(odd_body, core.port)
    unsupported = await phone.next()
    assert unsupported.status == 415 and unsupported.get("accept") == "application/sdp"
    phone.send(acknowledgement(odd_body, unsupported, phone.port), core.port)  # else timer G resends the 415
    html_only = request("INVITE", phone.port, body=SDP, headers=(("Accept", "text/html"),))
    phone.send(html_only, core.port)
    not_acceptable = await phone.next()
    assert not_acceptable.status == 406
    phone.send(acknowledgement(html_only, not_acceptable, phone.port), core.port)
    phone.send(request("BYE", phone.port, to_tag="nobody"), core.port)
    assert (await phone.next()).status == 481, "no such dialog, whether or not BYE has a handler (12.2.2)"
    core.on("BYE", lambda req, tx: tx.reply(200))
    phone.send(request("BYE", phone.port, to_tag="nobody"), core.port)
    assert (await phone.next()).status == 481, "no such dialog"
    phone.send(request("BYE", phone.port), core.port)
    assert (await phone.next()).status == 200, "outside a dialog the handler has it"
    phone.close()


# two cores: a call -----------------------------------------------------------------------------------------------


async def test_a_call_between_two_cores(cores):
    uac, uas = await cores(), await cores()
    seen = []

    def in_dialog(req, tx):
        seen.append(req.method)
        if req.method != "ACK":
            tx.reply(200)

    def answer(req, tx):
        tx.reply(180)
        dialog = Dialog.as_uas(req, tx.to_tag, uas.contact(), tx.peer)
        dialog.handler = in_dialog
        uas.add_dialog(dialog)
        tx.reply(200, headers=[("Contact", f"<{uas.contact()}>")], body=SDP)

    uas.on("INVITE", answer)
    invite = uac.new_request(
        "INVITE",
        f"sip:bob@127.0.0.1:{uas.port}",
        from_="<sip:alice@127.0.0.1>",
        to="<sip:bob@127.0.0.1>",
        contact=uac.contact(),
        body=SDP,
    )
    tx = uac.send_request(invite)
    assert [r.status async for r in tx.responses()] == [180, 200]
    dialog = Dialog.as_uac(tx.request, tx.final.result(), tx.peer, uac.contact())
    uac.add_dialog(dialog)
    uac.ack(tx, dialog.ack(invite.cseq.number))

    bye = uac.send_request(dialog.new_request("BYE"), dialog.peer)
    assert (await asyncio.wait_for(bye.final, 1)).status == 200
    assert seen == ["ACK", "BYE"]
    [uas_dialog] = uas.dialogs.values()
    assert uas_dialog.remote_seq == 2 and uas_dialog.remote_target == uac.contact()

    dialog.local_seq = 1  # a request older than the BYE
    late = uac.send_request(dialog.new_request("INFO"), dialog.peer)
    assert (await asyncio.wait_for(late.final, 1)).status == 500
    assert seen == ["ACK", "BYE"]


async def test_cancel_from_the_calling_side(cores):
    uac, uas = await cores(), await cores()
    cancelled = asyncio.Event()

    def ring(req, tx):
        tx.on_cancel(cancelled.set)
        tx.reply(180)

    uas.on("INVITE", ring)
    tx = uac.send_request(
        uac.new_request(
            "INVITE", f"sip:bob@127.0.0.1:{uas.port}", from_="<sip:a@127.0.0.1>", to="<sip:bob@127.0.0.1>", body=SDP
        )
    )
    cancel_tx = await uac.cancel(tx)
    assert (await asyncio.wait_for(cancel_tx.final, 1)).status == 200
    assert (await asyncio.wait_for(tx.final, 1)).status == 487
    await asyncio.wait_for(cancelled.wait(), 1)
    assert await uac.cancel(tx) is None, "nothing left to cancel"


# TCP ------------------------------------------------------------------------------------------------------------


async def test_tcp_reuses_one_connection(cores):
    uac, uas = await cores(), await cores()
    peer = Peer("tcp", "127.0.0.1", uas.port)
    for _ in range(3):
        tx = uac.send_request(
            uac.new_request("OPTIONS", f"sip:x@127.0.0.1:{uas.port};transport=tcp", from_="<sip:a@b>", to="<sip:x@b>"),
            peer,
        )
        assert (await asyncio.wait_for(tx.final, 1)).status == 200
    assert len(uac.transports["tcp"].connections) == 1 and len(uas.transports["tcp"].connections) == 1


async def test_tcp_framing_by_content_length(cores):
    core = await cores()
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", core.port))
    port = sock.getsockname()[1]

    def tcp_request(body: bytes = b"") -> bytes:
        msg = request("OPTIONS", port)
        msg.set("Via", msg.get("via").replace("/UDP", "/TCP"))
        msg.body = body
        if body:
            msg.set("Content-Type", "application/sdp")
        return msg.encode()

    two, split = tcp_request() + tcp_request(SDP), tcp_request(SDP)
    await loop.sock_sendall(sock, b"\r\n\r\n")
    await loop.sock_sendall(sock, two + split[:40])
    await asyncio.sleep(0.05)
    await loop.sock_sendall(sock, split[40:])
    data = b""
    while data.count(b"SIP/2.0 200 OK") < 3:
        data += await asyncio.wait_for(loop.sock_recv(sock, 65536), 1)
    assert data.startswith(b"\r\n"), "the keep-alive ping got its pong"
    sock.close()


async def test_tcp_connect_failure_is_a_503(cores):
    core = await cores()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    tx = core.send_request(
        core.new_request("OPTIONS", f"sip:x@127.0.0.1:{port};transport=tcp", from_="<sip:a@b>", to="<sip:x@b>")
    )
    assert (await asyncio.wait_for(tx.final, 1)).status == 503


async def test_an_overloaded_core_refuses_new_requests_with_503_and_still_serves_dialogs(cores):
    core, phone = await cores(), await RawPeer.open()
    core.on("REGISTER", lambda req, tx: tx.reply(200))
    core.on("BYE", lambda req, tx: tx.reply(200))
    core.guard.observe(2 << 20)  # 2 MiB of requests wait in the receive buffer
    assert core.guard.overloaded
    for method in ("INVITE", "REGISTER", "OPTIONS"):
        phone.send(request(method, phone.port), core.port)
        refused = await phone.next()
        assert (refused.status, refused.get("retry-after")) == (503, "2"), method
    phone.send(request("BYE", phone.port, to_tag="tt"), core.port)
    assert (await phone.next()).status == 481, "an in-dialog request is still handled (no such dialog here)"
    core.guard.observe(512 << 10)
    assert core.guard.overloaded, "it stays refusing until the backlog is nearly gone"
    core.guard.observe(0)
    phone.send(request("REGISTER", phone.port), core.port)
    assert (await phone.next()).status == 200
    phone.close()


async def test_the_guard_sees_datagrams_waiting_in_the_receive_buffer(cores):
    core = await cores()
    assert core._queued_bytes() == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(50):  # sent while the loop is not running: nothing is read yet
            sender.sendto(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n" + b"x" * 500, ("127.0.0.1", core.port))
    assert core._queued_bytes() >= 50 * 500
    await asyncio.sleep(0.05)
    assert core._queued_bytes() == 0


async def test_an_invite_left_unanswered_gets_100_trying(cores):
    core, phone = await cores(), await RawPeer.open()

    async def slow(req, tx):
        await asyncio.sleep(0.3)
        tx.reply(486)

    core.on("INVITE", slow)
    sent = time.monotonic()
    phone.send(request("INVITE", phone.port, body=SDP), core.port)
    arrived, trying = await phone.messages.get()
    assert trying.status == 100 and arrived - sent < 0.2, "within 200 ms (RFC 3261 17.2.1)"
    assert (await phone.next()).status == 486
    phone.close()
