"""Handing a call's media to another phone (a transfer): the relay moves the target's sockets into the call, so the
phone that stays keeps its ports; the SDP helpers narrow the target's offer and take a held phone off hold."""

from __future__ import annotations

import pytest

from cloudpbx.media.handover import held, offer_for_target, resumed, retargeted
from cloudpbx.media.sdp import SessionDescription
from tests.media.test_relay import HOST, connect, phones, relay, tone_of  # noqa: F401 - fixtures


async def test_adopted_sockets_join_the_target_and_leave_the_transferee_its_ports(relay, phones):
    a, b, c, d = phones(440), phones(1000), phones(1000), phones(440)
    call = await connect(relay, a, b, "call-1")
    target = await connect(relay, d, c, "call-2")  # the target's leg, as it answered in its own session
    a_port, c_port, free = a.relay_port, c.relay_port, len(relay.pool)
    call.adopt("b", target, "b")
    assert (a.relay_port, c.relay_port) == (a_port, c_port)
    assert target.closed and relay.get("call-2") is None
    assert len(relay.pool) == free + 2, "the transferor's pair and the target session's other pair are free"
    await a.send(25)
    await c.send(25)
    assert tone_of(await c.receive(25)) == 440
    assert tone_of(await a.receive(25)) == 1000
    assert b.hears_nothing()


async def test_sessions_with_other_media_sections_are_not_joined(relay, phones):
    a, b, d = phones(440), phones(1000), phones(440)
    call = await connect(relay, a, b, "call-1")
    video = b"m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    target = relay.open("call-2")
    await target.offer_for_b(d.sdp() + video)
    with pytest.raises(ValueError, match="media sections differ"):
        call.adopt("b", target, "b")
    assert not target.closed
    await a.send(25)
    assert tone_of(await b.receive(25)) == 440, "nothing changed"


SEEN_BY_TRANSFEROR = (
    b"v=0\r\no=a 7 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 20000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n"
)
SEEN_BY_TRANSFEREE = (
    b"v=0\r\no=b 9 4 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
    b"m=audio 20002 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
)


def test_the_target_is_offered_only_the_codec_the_call_settled_on_both_ways():
    offer = SessionDescription.parse(offer_for_target(SEEN_BY_TRANSFEROR, SEEN_BY_TRANSFEREE, "127.0.0.9"))
    (audio,) = offer.media
    assert audio.formats == ["8", "101"] and audio.port == 20000
    assert audio.attributes("rtpmap") == ["8 PCMA/8000", "101 telephone-event/8000"]
    assert offer.direction(audio) == "sendrecv"


def test_a_target_in_a_call_is_re_offered_the_settled_codecs_on_its_own_ports_and_session():
    settled = offer_for_target(SEEN_BY_TRANSFEROR, SEEN_BY_TRANSFEREE, "127.0.0.9")
    again = SessionDescription.parse(retargeted(settled, SEEN_BY_TRANSFEREE, "127.0.0.9"))
    assert ["o", "b 9 5 IN IP4 127.0.0.1"] in again.lines, "the target's own origin, one version newer"
    assert again.media[0].port == 20002 and again.media[0].formats == ["8", "101"]


def test_a_held_phone_is_re_offered_its_body_sendrecv_one_version_newer():
    assert held(SEEN_BY_TRANSFEREE) and not held(SEEN_BY_TRANSFEROR)
    again = SessionDescription.parse(resumed(SEEN_BY_TRANSFEREE, "127.0.0.9"))
    assert ["o", "b 9 5 IN IP4 127.0.0.1"] in again.lines
    assert again.connection == "127.0.0.9" and again.direction(again.media[0]) == "sendrecv"
    assert not held(again.serialize())
