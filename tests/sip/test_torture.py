"""RFC 4475 torture messages (tests/sip/torture/*.sip, written from the RFC's descriptions, CRLF exact), each
sent over UDP to the served platform: every one gets the right answer or is dropped, and the server goes on
answering OPTIONS.

Several of the RFC's messages share branch values (`z9hG4bKkdjuw`) and sent-by hosts, which would make later ones
retransmissions of earlier ones; each send gives such branches a per-run suffix, leaving RFC 2543 style branches
(none, or the bare magic cookie) as they are.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from cloudpbx.sip.message import ParseError, Request, parse
from tests.sip.uac import SipSocket

TORTURE = Path(__file__).parent / "torture"
DROPPED = "dropped"
UNDERSTOOD = "understood"  # a final answer that is neither 400 nor 5xx: the message was parsed and handled
EXPECTED = {
    # 3.1.1 valid messages
    "wsinv": UNDERSTOOD,
    "intmeth": {501},
    "esc01": UNDERSTOOD,
    "escnull": {401},
    "esc02": {501},
    "lwsdisp": {200},
    "longreq": UNDERSTOOD,
    "dblreq": {401},
    "semiuri": {200},
    "transports": {200},
    "mpart01": UNDERSTOOD,
    "unreason": DROPPED,
    "noreason": DROPPED,
    # 3.1.2 invalid messages
    "badinv01": {400},
    "clerr": {400},
    "ncl": {400},
    "scalar02": {400},
    "scalarlg": DROPPED,
    "quotbal": {400},
    "ltgtruri": {400},
    "lwsruri": {400},
    "lwsstart": {400},
    "trws": {400},
    "escruri": {400},
    "baddate": {400},
    "regbadct": {400},
    "badaspec": {400},
    "baddn": {400},
    "badvers": {505},
    "mismatch01": {400},
    "mismatch02": {400},
    "bigcode": DROPPED,
    # 3.2 transaction layer
    "badbranch": {200},
    # 3.3 application layer
    "insuf": {400},
    "unkscm": {416},
    "novelsc": {416},
    "unksm2": {416},
    "bext01": {420},
    "invut": {405, 415},
    "regaut01": {401},
    "multi01": {400},
    "mcl01": {400},
    "bcast": DROPPED,
    "zeromf": {200},
    "cparam01": {401},
    "cparam02": {401},
    "regescrt": {401},
    "sdp01": {405, 406},
    # 3.4 backward compatibility
    "inv2543": UNDERSTOOD,
}
_BRANCH = re.compile(rb"z9hG4bK(?=[^\s;,])")


def test_every_torture_file_has_an_expectation():
    assert sorted(p.stem for p in TORTURE.glob("*.sip")) == sorted(EXPECTED)
    assert all(
        b"\r\n" in p.read_bytes() and b"\n" not in p.read_bytes().replace(b"\r\n", b"")
        for p in TORTURE.glob("*.sip")
        if p.stem != "mpart01"
    ), "CRLF line ends only"


@pytest.fixture(scope="module")
def udp(server):
    sock = SipSocket(server.sip_port)
    yield sock
    sock.close()


def with_fresh_branches(data: bytes) -> bytes:
    return _BRANCH.sub(b"z9hG4bK" + secrets.token_hex(3).encode() + b"-", data)


def request_of(data: bytes) -> Request | None:
    try:
        message = parse(data)
    except ParseError:
        return None
    return message if isinstance(message, Request) and not message.defect else None


def ack_for(request: Request, response) -> bytes:
    """The ACK that ends an INVITE server transaction after a failure response (RFC 3261 17.1.1.3)."""
    lines = [
        f"ACK {request.uri} SIP/2.0",
        f"Via: {request.values('via')[0]}",
        "Max-Forwards: 70",
        f"From: {request.get('from')}",
        f"To: {response.get('to')}",
        f"Call-ID: {request.get('call-id')}",
        f"CSeq: {request.cseq.number} ACK",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def options(port: int) -> bytes:
    host, local = "127.0.0.1", port
    return (
        f"OPTIONS sip:ping@{host} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{local};branch=z9hG4bK{secrets.token_hex(6)}"
        f"\r\nFrom: <sip:tester@{host}>;tag={secrets.token_hex(4)}\r\nTo: <sip:ping@{host}>\r\n"
        f"Call-ID: {secrets.token_hex(8)}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_torture_message(udp, name):
    expected = EXPECTED[name]
    data = with_fresh_branches((TORTURE / f"{name}.sip").read_bytes())
    udp.send(data)
    if expected == DROPPED:
        assert udp.receive(0.3) is None, f"{name} deserves no answer"
    else:
        response = udp.final()
        assert response is not None, f"no answer to {name}"
        if expected == UNDERSTOOD:
            assert response.status != 400 and response.status < 500, response
        else:
            assert response.status in expected, response
        check_answer(name, request_of(data), response, udp)
    udp.send(options(udp.address[1]))
    alive = udp.final()
    assert alive is not None and alive.status == 200 and alive.cseq.method == "OPTIONS", "still answering"


def check_answer(name: str, request: Request | None, response, udp: SipSocket) -> None:
    if request is not None and request.count("call-id") == 1:
        assert response.get("call-id") == request.get("call-id")
        assert response.get("cseq") == request.get("cseq")
        if request.method == "INVITE" and response.status != 400:  # 400s go out statelessly: nothing to end
            udp.send(ack_for(request, response))
    if response.status == 405:
        assert response.get("allow"), "405 lists what is allowed"
    if response.status == 401:
        assert response.get("www-authenticate").startswith("Digest ")
    if name == "bext01":
        assert response.values("unsupported") == ["nothingSupportedHere"], "Proxy-Require is not the UAS's"
    if name == "dblreq":
        assert response.cseq.method == "REGISTER"
        assert udp.receive(0.3) is None, "the INVITE after Content-Length is not a second request"
