"""SDP parsing, inspection, rewriting and serialization."""

from __future__ import annotations

import pytest

from cloudpbx.media.sdp import Codec, SdpError, SessionDescription, completed, conformed

PHONE_OFFER = (
    "v=0\r\n"
    "o=alice 3724394400 3724394401 IN IP4 192.168.1.20\r\n"
    "s=pjmedia\r\n"
    "b=AS:84\r\n"
    "t=0 0\r\n"
    "a=X-nat:0\r\n"
    "m=audio 4000 RTP/AVP 96 0 8 101\r\n"
    "c=IN IP4 192.168.1.20\r\n"
    "b=TIAS:64000\r\n"
    "a=rtcp:4001 IN IP4 192.168.1.20\r\n"
    "a=sendrecv\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 useinbandfec=1\r\n"
    "a=rtcp-fb:96 nack\r\n"
    "a=rtcp-fb:* trr-int 100\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=candidate:1 1 UDP 2130706431 192.168.1.20 4000 typ host\r\n"
    "m=video 4002 RTP/AVP 97 31\r\n"
    "a=rtpmap:97 H264/90000\r\n"
    "a=fmtp:97 profile-level-id=42e01f\r\n"
)


def test_round_trip_keeps_every_line_in_order():
    parsed = SessionDescription.parse(PHONE_OFFER.encode())
    assert parsed.serialize() == PHONE_OFFER.encode()
    assert [m.kind for m in parsed.media] == ["audio", "video"]
    assert parsed.media[0].port == 4000 and parsed.media[0].formats == ["96", "0", "8", "101"]


def test_bare_newlines_and_blank_lines_are_accepted():
    text = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\n\nc=IN IP4 10.0.0.1\nt=0 0\nm=audio 5000 RTP/AVP 0\n"
    parsed = SessionDescription.parse(text)
    assert parsed.connection == "10.0.0.1"
    assert parsed.serialize().endswith(b"m=audio 5000 RTP/AVP 0\r\n")


def test_codecs_from_rtpmap_and_from_the_static_table():
    parsed = SessionDescription.parse(PHONE_OFFER)
    audio, video = parsed.media
    assert audio.codecs() == [
        Codec(96, "opus", 48000, 2, "useinbandfec=1"),
        Codec(0, "PCMU", 8000),
        Codec(8, "PCMA", 8000),
        Codec(101, "telephone-event", 8000, 1, "0-16"),
    ]
    assert [c.key for c in video.codecs()] == [("h264", 90000), ("h261", 90000)]
    static_only = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 18 3 77\r\n"
    )
    assert [c.key for c in static_only.media[0].codecs()] == [("g729", 8000), ("gsm", 8000)]


def test_media_address_falls_back_to_the_session_connection():
    parsed = SessionDescription.parse(PHONE_OFFER)
    assert parsed.connection is None
    assert parsed.media_address(parsed.media[0]) == "192.168.1.20"
    assert parsed.media_address(parsed.media[1]) is None
    assert parsed.media[0].rtcp_port == 4001
    assert parsed.media[1].rtcp_port == 4003


@pytest.mark.parametrize(
    "session_attr, media_attr, connection, port, direction, receives",
    [
        ("", "", "10.0.0.1", 5000, "sendrecv", True),
        ("a=sendonly\r\n", "", "10.0.0.1", 5000, "sendonly", False),
        ("a=sendonly\r\n", "a=recvonly\r\n", "10.0.0.1", 5000, "recvonly", True),
        ("", "a=inactive\r\n", "10.0.0.1", 5000, "inactive", False),
        ("", "", "0.0.0.0", 5000, "sendrecv", False),
        ("", "", "10.0.0.1", 0, "sendrecv", False),
    ],
)
def test_direction_and_hold(session_attr, media_attr, connection, port, direction, receives):
    text = (
        f"v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 {connection}\r\nt=0 0\r\n{session_attr}"
        f"m=audio {port} RTP/AVP 0\r\n{media_attr}"
    )
    parsed = SessionDescription.parse(text)
    assert parsed.direction(parsed.media[0]) == direction
    assert parsed.receives(parsed.media[0]) is receives


def test_set_address_rewrites_origin_and_connections_but_not_hold():
    parsed = SessionDescription.parse(
        "v=0\r\no=bob 7 8 IN IP4 192.168.1.30\r\ns=-\r\nc=IN IP4 192.168.1.30\r\nt=0 0\r\n"
        "m=audio 6000 RTP/AVP 0\r\nc=IN IP4 192.168.1.31\r\nm=video 6002 RTP/AVP 31\r\nc=IN IP4 0.0.0.0\r\n"
    )
    parsed.set_address("203.0.113.5")
    text = parsed.serialize().decode()
    assert "o=bob 7 8 IN IP4 203.0.113.5\r\n" in text
    assert "s=-\r\nc=IN IP4 203.0.113.5\r\n" in text
    assert "m=audio 6000 RTP/AVP 0\r\nc=IN IP4 203.0.113.5\r\n" in text
    assert "c=IN IP4 0.0.0.0" in text
    parsed.set_address("2001:db8::7")
    assert "o=bob 7 8 IN IP6 2001:db8::7" in parsed.serialize().decode()


def test_keep_formats_drops_their_attribute_lines():
    parsed = SessionDescription.parse(PHONE_OFFER)
    audio = parsed.media[0]
    audio.keep_formats(["8", "101"])
    assert audio.formats == ["8", "101"]
    assert audio.attributes("rtpmap") == ["8 PCMA/8000", "101 telephone-event/8000"]
    assert audio.attributes("fmtp") == ["101 0-16"]
    assert audio.attributes("rtcp-fb") == ["* trr-int 100"]
    assert audio.attribute("sendrecv") == ""


def test_remove_ice_drops_candidates_and_credentials():
    parsed = SessionDescription.parse(PHONE_OFFER.replace("a=X-nat:0", "a=ice-lite"))
    parsed.remove_ice()
    text = parsed.serialize().decode()
    assert "candidate" not in text and "ice-" not in text
    assert "a=rtcp:4001" in text


@pytest.mark.parametrize(
    "body",
    [
        "",
        "o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n",
        "v=0\r\ns=-\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nthis is not sdp\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio x/2 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4\r\nm=audio 5 RTP/AVP 0\r\n",
    ],
)
def test_malformed_bodies_raise_sdp_error(body):
    with pytest.raises(SdpError):
        SessionDescription.parse(body)


def test_port_count_survives():
    parsed = SessionDescription.parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=video 49170/2 RTP/AVP 31\r\n")
    assert parsed.media[0].port == 49170 and parsed.media[0].port_count == 2
    assert b"m=video 49170/2 RTP/AVP 31\r\n" in parsed.serialize()


def test_a_copy_can_be_edited_without_touching_the_original():
    original = SessionDescription.parse(PHONE_OFFER)
    copied = original.copy()
    assert copied == original and copied.serialize() == original.serialize()
    copied.media[0].keep_formats(["0"])
    copied.media[0].lines[0][1] = "changed"
    copied.lines[0][1] = "changed"
    copied.media[0].port = 1
    assert original == SessionDescription.parse(PHONE_OFFER)


def test_an_answer_is_conformed_to_the_offers_m_lines():
    offer = SessionDescription.parse(PHONE_OFFER).media  # audio, video
    head = "v=0\r\no=bob 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n"
    audio_only = SessionDescription.parse(head + "m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    fixed = conformed(audio_only, offer)
    assert [(m.kind, m.port, m.formats, m.lines) for m in fixed.media[1:]] == [("video", 0, ["97", "31"], [])]
    assert fixed.media[0] is audio_only.media[0] and len(audio_only.media) == 1, "the answer itself is left alone"
    complete = SessionDescription.parse(
        head + "m=audio 5000 RTP/AVP 0\r\nm=video 5002 RTP/AVP 97\r\nm=image 5004 udptl t38\r\n"
    )
    assert [m.kind for m in conformed(complete, offer).media] == ["audio", "video"], "no section beyond the offer's"
    kept = SessionDescription.parse(head + "m=audio 5000 RTP/AVP 0\r\nm=video 5002 RTP/AVP 97\r\n")
    assert conformed(kept, offer) is kept
    offer[1].port = 0  # the offer declined video: so does the answer, whatever the answerer wrote
    assert conformed(kept, offer).media[1].port == 0
    swapped = SessionDescription.parse(head + "m=video 5002 RTP/AVP 97\r\nm=audio 5000 RTP/AVP 0\r\n")
    assert [(m.kind, m.port) for m in conformed(swapped, offer).media] == [("audio", 0), ("video", 0)]


def test_a_new_offer_keeps_the_previous_offers_m_lines():
    before = SessionDescription.parse(PHONE_OFFER).media
    head = "v=0\r\no=alice 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    shorter = SessionDescription.parse(head + "m=audio 4000 RTP/AVP 0\r\n")
    assert [(m.kind, m.port) for m in completed(shorter, before).media] == [("audio", 4000), ("video", 0)]
    longer = SessionDescription.parse(PHONE_OFFER + "m=image 4004 udptl t38\r\n")
    assert completed(longer, before) is longer
