"""The SIP message parser and serializer, and the structured header values."""

from __future__ import annotations

import pytest

from cloudpbx.sip.headers import CSeq, HeaderError, NameAddr, Via, parse_auth, parse_contacts, split_list
from cloudpbx.sip.message import ParseError, Request, Response, parse
from cloudpbx.sip.uri import Uri, UriError


def raw(*lines: str, body: str = "") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


BASIC = (
    "INVITE sip:bob@example.com SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport",
    "Max-Forwards: 70",
    'From: "Alice" <sip:alice@example.com>;tag=a1',
    "To: <sip:bob@example.com>",
    "Call-ID: call-1@192.0.2.1",
    "CSeq: 7 INVITE",
    "Contact: <sip:alice@192.0.2.1:5060>",
)


def test_compact_forms_expand_to_full_names():
    msg = parse(
        raw(
            "OPTIONS sip:bob@example.com SIP/2.0",
            "v: SIP/2.0/TCP h.example.com;branch=z9hG4bK1",
            "f: <sip:a@example.com>;tag=x",
            "t: sip:bob@example.com",
            "i: cid",
            "CSeq: 1 OPTIONS",
            "m: <sip:a@h.example.com>",
            "k: path, replaces",
            "s: hello",
            "c: text/plain",
            "l: 2",
            body="hi",
        )
    )
    assert msg.get("call-id") == "cid" and msg.call_id == "cid"
    assert msg.from_.tag == "x" and str(msg.to.uri) == "sip:bob@example.com"
    assert msg.via.transport == "TCP" and msg.via.branch == "z9hG4bK1"
    assert [str(c.uri) for c in msg.contacts] == ["sip:a@h.example.com"]
    assert msg.values("supported") == ["path", "replaces"] and msg.get("subject") == "hello"
    assert msg.content_type == "text/plain" and msg.body == b"hi"
    encoded = msg.encode().decode()
    assert "\r\nCall-ID: cid\r\n" in encoded and "\r\nFrom: <sip:a@example.com>;tag=x\r\n" in encoded
    assert "\r\nContent-Length: 2\r\n\r\nhi" in encoded and "\r\ni:" not in encoded


def test_header_names_are_case_insensitive():
    msg = parse(
        raw(
            "OPTIONS sip:b@example.com SIP/2.0",
            "vIA: SIP/2.0/UDP h;branch=z9hG4bK1",
            "FROM: <sip:a@x>;tag=1",
            "to: <sip:b@x>",
            "cAlL-iD: abc",
            "cseq: 2 OPTIONS",
            "X-Custom-Thing: one",
        )
    )
    assert msg.call_id == "abc" and msg.get("CALL-ID") == "abc" and "Call-Id" in msg
    assert msg.cseq == CSeq(2, "OPTIONS")
    text = msg.encode().decode()
    assert "\r\nCall-ID: abc\r\n" in text and "\r\nCSeq: 2 OPTIONS\r\n" in text and "\r\nVia: " in text
    assert "\r\nX-Custom-Thing: one\r\n" in text, "unknown headers keep the sender's spelling"


def test_folded_headers_are_joined():
    msg = parse(
        raw(
            "OPTIONS sip:b@example.com SIP/2.0",
            "Via: SIP/2.0/UDP h;branch=z9hG4bK1",
            "Subject: first part",
            " second part",
            "\tthird part",
            "From: <sip:a@x>",
            "  ;tag=9",
            "To: <sip:b@x>",
            "Call-ID: c",
            "CSeq: 1",
            "  OPTIONS",
        )
    )
    assert msg.get("subject") == "first part second part third part"
    assert msg.from_.tag == "9" and msg.cseq.method == "OPTIONS"


def test_multi_value_headers_across_lines_keep_their_order():
    msg = parse(
        raw(
            *BASIC[:2],
            "Via: SIP/2.0/TCP b.example.com;branch=z9hG4bK2, SIP/2.0/UDP c.example.com",
            *BASIC[2:],
            'Contact: "Doe, John" <sip:j@d.example.com>;q=0.5, <sip:k@e.example.com>',
            "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
            "Route: <sip:p3.example.com;lr>",
        )
    )
    assert [v.host for v in msg.vias] == ["192.0.2.1", "b.example.com", "c.example.com"]
    assert msg.via.host == "192.0.2.1"
    contacts = msg.contacts
    assert [c.display for c in contacts] == [None, "Doe, John", None]
    assert contacts[1].params == {"q": "0.5"}
    assert msg.values("route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>", "<sip:p3.example.com;lr>"]
    assert msg.count("via") == 2 and msg.count("route") == 2
    assert split_list('a, "b, c" <sip:x>, <sip:y;p=1,2>') == ["a", '"b, c" <sip:x>', "<sip:y;p=1,2>"]
    with pytest.raises(HeaderError):
        split_list("a,,b")


@pytest.mark.parametrize(
    "length, defect, body",
    [
        ("6", None, b"abcdef"),
        ("2", None, b"ab"),  # a datagram with bytes beyond Content-Length: they are not part of the message
        ("10", "Content-Length larger than the message", b"abcdef"),
        ("-1", "bad Content-Length", b"abcdef"),
        ("x", "bad Content-Length", b"abcdef"),
    ],
)
def test_content_length_checks(length, defect, body):
    msg = parse(raw(*BASIC, "Content-Type: text/plain", f"Content-Length: {length}", body="abcdef"))
    assert msg.defect == defect
    assert msg.body == body


def test_missing_or_repeated_content_length():
    assert parse(raw(*BASIC, body="all of it")).body == b"all of it", "UDP: the rest of the datagram"
    msg = parse(raw(*BASIC, "Content-Length: 3", "l: 3", body="abc"))
    assert msg.defect == "more than one Content-Length"


def test_round_trip_keeps_meaning():
    original = parse(
        raw(
            *BASIC,
            "Content-Type: application/sdp",
            "X-Weird-Header: a;b=c",
            "Content-Length: 12",
            body="v=0\r\ns=-\r\nxx",
        )
    )
    again = parse(original.encode())
    assert isinstance(again, Request) and again.method == "INVITE" and again.uri == "sip:bob@example.com"
    assert again.items() == original.items()
    assert again.body == original.body == b"v=0\r\ns=-\r\nxx"
    assert again.encode() == original.encode()

    response = Response(486, headers=[("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("CSeq", "1 INVITE")])
    assert response.reason == "Busy Here"
    back = parse(response.encode())
    assert isinstance(back, Response) and back.status == 486 and back.reason == "Busy Here"
    assert back.encode().startswith(b"SIP/2.0 486 Busy Here\r\nVia: ")


def test_start_line_errors():
    assert parse(raw("INVITE  sip:a@b SIP/2.0", *BASIC[1:])).defect == "malformed Request-Line"
    assert parse(raw("INVITE sip:a@b SIP/2.0 ", *BASIC[1:])).defect == "malformed Request-Line"
    assert parse(raw("INVITE sip:a@b HTTP/1.1", *BASIC[1:])).defect == "malformed Request-Line"
    for start in ("SIP/2.0 99 Too Low", "SIP/2.0 4294967301 Huge", "", "\x00\x01 garbage"):
        with pytest.raises(ParseError):
            parse(raw(start, *BASIC[1:]))
    truncated = parse(b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1")  # never ends its headers
    assert truncated.defect == "no end of headers" and truncated.via.host == "h", "answerable: the core says 400"
    with pytest.raises(ParseError):
        parse(b"SIP/2.0 200 OK\r\nVia: x")  # a response without its end: nothing to answer
    assert parse(b"\r\n\r\n" + raw(*BASIC)).method == "INVITE", "CRLFs before the start line are ignored"
    assert parse(raw("SIP/2.0 100 ", *BASIC[1:])).reason == ""


def test_bare_lf_line_ends_parse_as_crlf_ones():
    crlf = parse(raw(*BASIC, "Content-Type: text/plain", "Content-Length: 5", body="ab\ncd"))
    for eol, blank in (("\n", "\n"), ("\r\n", "\n"), ("\n", "\r\n")):
        data = (eol.join((*BASIC, "Content-Type: text/plain", "Content-Length: 5")) + eol + blank + "ab\ncd").encode()
        msg = parse(data)
        assert msg.defect is None and msg.items() == crlf.items() and msg.body == b"ab\ncd", (eol, blank)
    folded = parse(b"OPTIONS sip:b@x SIP/2.0\nSubject: one\n two\nCall-ID: c\n\n")
    assert folded.get("subject") == "one two" and folded.call_id == "c"
    assert parse(b"OPTIONS sip:b@x SIP/2.0\nCall-ID: c\n").call_id == "c", "a datagram may end after a header line"


def test_a_malformed_header_line_is_a_defect_not_a_crash():
    msg = parse(raw(*BASIC, "this line has no colon", " and a continuation"))
    assert msg.defect.startswith("malformed header line") and msg.call_id == "call-1@192.0.2.1"


def test_name_addr_forms():
    quoted = NameAddr.parse(r'"J Rosenberg \\\"" <sip:jdrosen@example.com> ; tag = 98asjd8')
    assert quoted.display == 'J Rosenberg \\"' and quoted.tag == "98asjd8"
    assert NameAddr.parse("caller<sip:caller@example.com>;tag=323").display == "caller"
    plain = NameAddr.parse("sip:+1972@gw.example.net;unknownparam")
    assert plain.uri.user == "+1972" and plain.params == {"unknownparam": None}, "addr-spec params are header's"
    bracketed = NameAddr.parse("<sip:+1972@gw.example.net;unknownparam>")
    assert bracketed.uri.params == {"unknownparam": None} and bracketed.params == {}
    assert str(NameAddr(Uri.parse("sip:a@b"), 'Say "hi"', {"tag": "1"})) == '"Say \\"hi\\"" <sip:a@b>;tag=1'
    for bad in (
        '"unterminated <sip:a@b>',
        "Bell, Alexander <sip:a@b>",
        "< sip:a@b >",
        "sip:a@b?Route=x",
        "<sip:a@b>;;",
        "<sip:a@b",
    ):
        with pytest.raises(HeaderError):
            NameAddr.parse(bad)
    assert parse_contacts(" * ") is None


def test_uris():
    uri = Uri.parse("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips",
        "alice",
        "secret",
        "[2001:db8::1]",
        5061,
    )
    assert uri.params == {"transport": "tcp", "lr": None} and uri.headers == "subject=hi"
    assert uri.bare_host == "2001:db8::1" and uri.host_is_ip and uri.transport == "tcp"
    assert str(uri) == "sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi"
    assert Uri.parse("sip:%75se%72@Example.COM") == Uri.parse("sip:user@example.com")
    assert Uri.parse("sip:user;par=u%40example.net@example.com").user == "user;par=u%40example.net"
    tel = Uri.parse("tel:+1-201-555-0123")
    assert not tel.is_sip and str(tel) == "tel:+1-201-555-0123"
    assert Uri.parse("sip:example.com").transport == "udp" and Uri.parse("sip:a@b").port is None
    for bad in ("sip:a@b c", "sip:a@b:99999", "sip:a@b:x", "<sip:a@b>", "sip:a%zz@b", "nocolon", "sip:a@[::1"):
        with pytest.raises(UriError):
            Uri.parse(bad)


def test_via_values():
    via = Via.parse("SIP  /   2.0 /UDP    192.0.2.2 : 5070 ;branch=z9hG4bK1 ; rport;received=10.0.0.1")
    assert (via.protocol, via.transport, via.host, via.port) == ("SIP/2.0", "UDP", "192.0.2.2", 5070)
    assert via.params == {"branch": "z9hG4bK1", "rport": None, "received": "10.0.0.1"}
    assert via.sent_by == "192.0.2.2:5070" and Via.parse("SIP/2.0/TLS h.example.com").sent_by == "h.example.com:5060"
    assert str(via) == "SIP/2.0/UDP 192.0.2.2:5070;branch=z9hG4bK1;rport;received=10.0.0.1"
    for bad in ("SIP/2.0/UDP 192.0.2.15;;", "SIP/2.0 192.0.2.1", "SIP/2.0/UDP", "SIP/2.0/UDP host:0"):
        with pytest.raises(HeaderError):
            Via.parse(bad)


def test_cseq_and_auth_values():
    assert CSeq.parse(" 0009 INVITE ") == CSeq(9, "INVITE")
    for bad in ("36893488147419103232 INVITE", "2147483648 INVITE", "INVITE", "1"):
        with pytest.raises(HeaderError):
            CSeq.parse(bad)
    scheme, params = parse_auth(
        'Digest username="bob", realm="a.example", nonce="n,1", uri="sip:a.example", '
        'response="abc", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="x\\"y"'
    )
    assert scheme == "digest" and params["nonce"] == "n,1" and params["cnonce"] == 'x"y'
    assert params["algorithm"] == "SHA-256" and params["nc"] == "00000001" and params["qop"] == "auth"
