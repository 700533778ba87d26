"""What the served platform says it can do, sent as raw datagrams: OPTIONS lists exactly the methods it handles
(in and out of dialog, RFC 3261 11.2: PRACK, UPDATE, REFER and NOTIFY are taken in a call's dialogs),
`Supported` offers 100rel (RFC 3262) and nothing else, and an INVITE that requires another extension gets 420
with every such option in `Unsupported` (8.2.2.3)."""

from __future__ import annotations

import pytest

from tests.sip.test_robustness import answer, request
from tests.sip.uac import HOST, SipSocket

HANDLED = {"ACK", "BYE", "CANCEL", "INFO", "INVITE", "NOTIFY", "OPTIONS", "PRACK", "REFER", "REGISTER", "UPDATE"}
IN_DIALOG_ONLY = {"NOTIFY", "PRACK", "REFER", "UPDATE"}
SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


@pytest.fixture
def udp(server):
    sock = SipSocket(server.sip_port)
    yield sock
    sock.close()


def listed(response, name: str) -> set[str]:
    return {value.strip().upper() for value in response.values(name)}


def test_options_lists_exactly_the_methods_handled_and_100rel(udp):
    data, call_id = request(udp, "OPTIONS")
    response = answer(udp, data, call_id)
    assert response.status == 200
    assert listed(response, "allow") == HANDLED
    assert listed(response, "supported") == {"100REL"}, "reliable provisional responses, no other extension"
    assert not response.values("require")


@pytest.mark.parametrize("method", sorted(IN_DIALOG_ONLY))
def test_a_method_taken_only_in_a_call_is_refused_outside_one(udp, method):
    data, call_id = request(udp, method)
    response = answer(udp, data, call_id)
    assert response.status == 405
    assert not listed(response, "allow") & IN_DIALOG_ONLY, "405's Allow lists what is taken outside a dialog"


def invite(sock: SipSocket, require: str) -> tuple[bytes, str, str]:
    """An INVITE with an SDP offer that requires `require`, its Call-ID and its Via line (for the ACK)."""
    data, call_id = request(sock, "INVITE", extra=(f"Require: {require}", "Content-Type: application/sdp"))
    head = data.decode().split("\r\n\r\n", 1)[0].replace("Content-Length: 0", f"Content-Length: {len(SDP)}")
    return (head + "\r\n\r\n" + SDP).encode(), call_id, head.split("\r\n")[1]


@pytest.mark.parametrize(
    "require, unsupported", [("replaces, timer", ["replaces", "timer"]), ("100rel, timer", ["timer"])]
)
def test_an_invite_requiring_an_extension_gets_420_naming_it(udp, require, unsupported):
    data, call_id, via = invite(udp, require)
    response = answer(udp, data, call_id)
    assert response.status == 420 and response.reason == "Bad Extension"
    assert response.values("unsupported") == unsupported
    ack = (
        f"ACK sip:someone@{HOST} SIP/2.0\r\n{via}\r\nMax-Forwards: 70\r\n"
        f"From: {response.get('from')}\r\nTo: {response.get('to')}\r\nCall-ID: {call_id}\r\n"
        "CSeq: 7 ACK\r\nContent-Length: 0\r\n\r\n"
    )
    udp.send(ack.encode())
    assert udp.receive(0.6) is None, "the ACK ends the transaction"
