"""KAZOO codec names and offer negotiation between two legs."""

from __future__ import annotations

import pytest

from cloudpbx.media.codecs import CodecPolicy, Incompatible, kazoo_names, negotiate, rtpmaps
from cloudpbx.media.sdp import Codec, SessionDescription

OFFER = (
    "v=0\r\no=- 10 10 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 96 9 0 8 18 97 101\r\n"
    "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n"
    "a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\n"
    "a=rtpmap:97 G7221/16000\r\na=fmtp:97 bitrate=24000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
    "a=sendrecv\r\n"
    "m=video 4002 RTP/AVP 100 34\r\na=rtpmap:100 H264/90000\r\na=fmtp:100 profile-level-id=42e01f\r\n"
)


def offer() -> SessionDescription:
    return SessionDescription.parse(OFFER)


def policy(audio=None, video=()) -> CodecPolicy:
    return CodecPolicy(tuple(audio) if audio is not None else None, tuple(video) if video is not None else None)


def test_policy_from_an_endpoint_media_object():
    assert CodecPolicy.from_media(
        {"audio": {"codecs": ["PCMU", "G729"]}, "video": {"codecs": ["H264"]}}
    ) == CodecPolicy(("PCMU", "G729"), ("H264",))
    # no audio list means the platform's codecs (any); the schema's video default [] means no video
    assert CodecPolicy.from_media({"audio": {"codecs": []}, "video": {"codecs": []}}) == CodecPolicy(None, ())
    assert CodecPolicy.from_media(None) == CodecPolicy(None, ())


def test_only_codecs_both_legs_allow_survive_in_the_offerers_order():
    result = negotiate(offer(), policy(["PCMA", "PCMU", "G729"]), policy(["G729", "PCMA", "OPUS"]))
    audio = result.media[0]
    assert audio.formats == ["8", "18", "101"]
    assert audio.attributes("rtpmap") == ["8 PCMA/8000", "18 G729/8000", "101 telephone-event/8000"]
    assert audio.attributes("fmtp") == ["18 annexb=no", "101 0-16"]
    assert audio.attribute("sendrecv") == ""


def test_the_offer_itself_is_left_alone():
    original = offer()
    negotiate(original, policy(["PCMU"]), policy(["PCMU"]))
    assert original.serialize() == OFFER.encode()


def test_unrestricted_legs_keep_every_audio_codec():
    result = negotiate(offer(), CodecPolicy(), CodecPolicy())
    assert result.media[0].formats == ["96", "9", "0", "8", "18", "97", "101"]
    assert result.media[1].port == 4002


def test_no_common_audio_codec_is_incompatible():
    with pytest.raises(Incompatible) as caught:
        negotiate(offer(), policy(["PCMU"]), policy(["GSM"]))
    assert caught.value.sip_code == 488
    assert caught.value.hangup_cause == "INCOMPATIBLE_DESTINATION"
    assert "PCMU/8000" in str(caught.value) and "telephone-event" not in str(caught.value)


def test_telephone_event_alone_is_not_a_common_codec():
    with pytest.raises(Incompatible):
        negotiate(offer(), policy(["GSM"]), CodecPolicy())


def test_video_without_a_common_codec_is_rejected_with_port_zero():
    result = negotiate(offer(), policy(["PCMU"], ["H264"]), policy(["PCMU"], []))
    assert result.media[0].formats == ["0", "101"]
    assert result.media[1].port == 0
    assert result.media[1].formats == ["100", "34"]  # a rejected section still names its formats


def test_video_with_a_common_codec_is_kept_and_filtered():
    result = negotiate(offer(), policy(["PCMU"], ["H264", "VP8"]), policy(["PCMU"], ["H264"]))
    assert result.media[1].port == 4002
    assert result.media[1].formats == ["100"]
    assert result.media[1].attributes("rtpmap") == ["100 H264/90000"]


def test_legacy_kazoo_names_follow_ecallmgr():
    # G722_16 is G.722 (8000 in SDP) or G.722.1 at 16 kHz; G722_32 is G.722.1 at 32 kHz only
    assert negotiate(offer(), policy(["G722_16"]), CodecPolicy()).media[0].formats == ["9", "97", "101"]
    with pytest.raises(Incompatible):
        negotiate(offer(), policy(["G722_32"]), CodecPolicy())
    assert negotiate(offer(), policy(["OPUS"]), policy(["OPUS", "PCMU"])).media[0].formats == ["96", "101"]


def test_static_payloads_without_rtpmap_are_recognised():
    bare = SessionDescription.parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 8 18\r\n")
    assert negotiate(bare, policy(["G729", "PCMA"]), CodecPolicy()).media[0].formats == ["8", "18"]


def test_sections_already_rejected_or_not_audio_video_pass_through():
    text = (
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"
        "m=video 0 RTP/AVP 31\r\nm=image 5004 udptl t38\r\n"
    )
    result = negotiate(SessionDescription.parse(text), policy(["PCMU"]), policy(["PCMU"]))
    assert [(m.kind, m.port, m.formats) for m in result.media] == [
        ("audio", 5000, ["0"]),
        ("video", 0, ["31"]),
        ("image", 5004, ["t38"]),
    ]


def test_rtpmaps_for_building_an_offer():
    assert rtpmaps(["PCMU", "OPUS", "G722_16", "G722", "speex@16000h"]) == [
        (0, "PCMU/8000"),
        (96, "opus/48000/2"),
        (9, "G722/8000"),
        (97, "G7221/16000"),
        (98, "speex/16000"),
    ]
    assert rtpmaps(["H263", "VP8", "H264"], "video") == [(34, "H263/90000"), (96, "VP8/90000"), (97, "H264/90000")]


def test_kazoo_names_of_an_sdp_codec():
    assert kazoo_names(Codec(97, "G7221", 32000)) == ["G722_32", "G7221@32000h"]
    assert kazoo_names(Codec(0, "PCMU", 8000)) == ["PCMU"]
    assert kazoo_names(Codec(99, "VP8", 90000), "video") == ["VP8"]
    assert kazoo_names(Codec(98, "iLBC", 8000)) == []


def test_video_keeps_the_offerers_order_payload_numbers_fmtp_and_rtcp_fb():
    text = (
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"
        "m=video 5002 RTP/AVP 126 100 34\r\na=rtpmap:126 VP8/90000\r\na=rtcp-fb:126 nack pli\r\n"
        "a=rtpmap:100 H264/90000\r\na=fmtp:100 profile-level-id=42e01f;packetization-mode=1\r\n"
        "a=rtcp-fb:100 nack pli\r\na=rtcp-fb:100 ccm fir\r\na=rtcp-fb:* goog-remb\r\na=rtpmap:34 H263/90000\r\n"
    )
    video = negotiate(SessionDescription.parse(text), policy(None, ["H263", "H264"]), policy(None, ["H264", "H263"]))
    section = video.media[1]
    assert section.formats == ["100", "34"], "the offerer's order and payload numbers"
    assert section.attributes("fmtp") == ["100 profile-level-id=42e01f;packetization-mode=1"]
    assert section.attributes("rtcp-fb") == ["100 nack pli", "100 ccm fir", "* goog-remb"]
    assert section.attributes("rtpmap") == ["100 H264/90000", "34 H263/90000"]


def test_a_video_mismatch_alone_never_fails_the_call_an_audio_one_does_even_with_video():
    result = negotiate(offer(), policy(["PCMU"], ["VP8"]), policy(["PCMU"], ["H264"]))
    assert (result.media[0].port, result.media[1].port) == (4000, 0)
    with pytest.raises(Incompatible):
        negotiate(offer(), policy(["PCMU"], ["H264"]), policy(["PCMA"], ["H264"]))
