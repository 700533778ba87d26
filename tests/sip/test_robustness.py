"""Requests the core must answer rather than drop or refuse with the wrong code, sent as raw datagrams and TCP
bytes to the served platform: in-dialog requests for no dialog (481, RFC 3261 12.2.2), bare-LF line ends
(accepted, 7.5), and requests broken beyond parsing that still say where an answer goes (400)."""

from __future__ import annotations

import secrets

import pytest

from tests.sip.uac import HOST, SipSocket


@pytest.fixture
def udp(server):
    sock = SipSocket(server.sip_port)
    yield sock
    sock.close()


def request(
    sock: SipSocket,
    method: str,
    *,
    to_tag: str | None = None,
    eol: str = "\r\n",
    extra: tuple[str, ...] = (),
    end: str | None = None,
) -> tuple[bytes, str]:
    """A request from `sock` and its Call-ID; `eol` ends every line, `end` replaces the empty line."""
    host, port = sock.address
    call_id = f"{secrets.token_hex(8)}@{host}"
    lines = [
        f"{method} sip:someone@{HOST} SIP/2.0",
        f"Via: SIP/2.0/{sock.transport.upper()} {host}:{port};branch=z9hG4bK{secrets.token_hex(6)};rport",
        "Max-Forwards: 70",
        f"From: <sip:tester@{HOST}>;tag={secrets.token_hex(4)}",
        f"To: <sip:someone@{HOST}>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {call_id}",
        f"CSeq: 7 {method}",
        *extra,
        "Content-Length: 0",
    ]
    return (eol.join(lines) + (eol + eol if end is None else end)).encode(), call_id


def answer(sock: SipSocket, data: bytes, call_id: str):
    sock.send(data)
    response = sock.final()
    assert response is not None, f"no answer to {data[:60]!r}"
    assert response.get("call-id") == call_id
    return response


@pytest.mark.parametrize("method", ["BYE", "INFO", "UPDATE", "REFER", "NOTIFY", "OPTIONS"])
def test_an_in_dialog_request_for_no_dialog_gets_481(udp, method):
    data, call_id = request(udp, method, to_tag=secrets.token_hex(4))
    response = answer(udp, data, call_id)
    assert (response.status, response.reason) == (481, "Call/Transaction Does Not Exist")
    assert response.cseq.number == 7 and response.cseq.method == method


def test_a_re_invite_for_no_dialog_gets_481(udp):
    data, call_id = request(udp, "INVITE", to_tag=secrets.token_hex(4))
    response = answer(udp, data, call_id)
    assert response.status == 481
    via = data.decode().split("\r\n")[1]
    ack = (
        "\r\n".join(
            [
                f"ACK sip:someone@{HOST} SIP/2.0",
                via,
                "Max-Forwards: 70",
                data.decode().split("\r\n")[3],
                f"To: {response.get('to')}",
                f"Call-ID: {call_id}",
                "CSeq: 7 ACK",
                "Content-Length: 0",
            ]
        )
        + "\r\n\r\n"
    )
    udp.send(ack.encode())
    assert udp.receive(0.6) is None, "the ACK ends the transaction: no retransmitted 481"


def test_a_bye_outside_any_dialog_is_still_405(udp):
    data, call_id = request(udp, "BYE")
    response = answer(udp, data, call_id)
    assert response.status == 405 and "INVITE" in response.get("allow")


@pytest.mark.parametrize("eol, end", [("\n", "\n\n"), ("\r\n", "\r\n\n"), ("\n", "\n\r\n")])
def test_bare_lf_line_ends_are_accepted(udp, eol, end):
    data, call_id = request(udp, "OPTIONS", eol=eol, end=end)
    assert answer(udp, data, call_id).status == 200


def test_lines_ending_in_lf_and_crlf_alike(udp):
    data, call_id = request(udp, "OPTIONS")
    mixed = data.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\n").replace(
        b"CSeq: 7 OPTIONS\r\n", b"CSeq: 7 OPTIONS\n"
    )
    response = answer(udp, mixed, call_id)
    assert response.status == 200 and response.cseq.method == "OPTIONS"


def test_a_bare_lf_register_is_challenged(udp):
    data, call_id = request(udp, "REGISTER", eol="\n", extra=(f"Contact: <sip:tester@{HOST}:5099>",))
    assert answer(udp, data, call_id).status in (401, 403, 404)


def test_bare_lf_over_tcp(server):
    sock = SipSocket(server.sip_port, "tcp")
    try:
        first, first_id = request(sock, "OPTIONS", eol="\n")
        second, second_id = request(sock, "OPTIONS", eol="\n")
        sock.send(first + second)
        assert [sock.final().get("call-id"), sock.final().get("call-id")] == [first_id, second_id]
    finally:
        sock.close()


@pytest.mark.parametrize("case", ["headers never end", "continuation first"])
def test_unparseable_requests_that_name_a_via_get_400(udp, case):
    data, call_id = request(udp, "OPTIONS")
    if case == "headers never end":
        data = data.rstrip(b"\r\n").replace(b"Content-Length: 0", b"Content-Len")
    else:
        data = data.replace(b"SIP/2.0\r\n", b"SIP/2.0\r\n  folded onto nothing\r\n", 1)
    response = answer(udp, data, call_id)
    assert response.status == 400
