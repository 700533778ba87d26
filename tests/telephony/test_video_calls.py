"""Video calls through the served platform: raw SIP phones with real RTP sockets (this pjsua2 build has no video)
call each other through a callflow; video is negotiated per device (`media.video.codecs`), relayed on its own ports
and declined with port 0 where a side has no common video codec, every answer keeping the offer's m-lines."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest

from cloudpbx.sip.message import Response
from tests.helpers import unique
from tests.sip.phones import phones  # noqa: F401 - a fixture
from tests.sip.rtp_ua import (
    RtpPhone,
    Streamer,
    aim,
    audio_port,
    m_lines,
    sdp_body,
    section_lines,
    video_port,
    wait_for,
)
from tests.telephony.test_calls import legs_of, new_callflow, new_device, office, relayed, ring_device  # noqa: F401

PCMU, H264 = 0, 96
PACKETS = 25  # of each kind each way: more than a second of audio, a few video frames


@pytest.fixture
def rtp_phones(office):
    """Factory: `rtp_phones(device, where=office)` -> a registered RtpPhone; all of it closed after the test."""
    made: list[RtpPhone] = []
    closing: list = []

    def make(device, where=office) -> RtpPhone:
        phone = RtpPhone(where.port, where.realm, device.username, device.password)
        made.append(phone)
        phone.register()
        return phone

    make.closing = closing
    yield make
    for thing in closing:
        with contextlib.suppress(Exception):
            (thing.stop if isinstance(thing, Streamer) else thing.close)()
    for phone in made:
        phone.close()


def media(rtp_phones, *ports):
    rtp_phones.closing.extend(ports)
    return list(ports)


def streaming(rtp_phones, ports) -> Streamer:
    streamer = Streamer(ports)
    rtp_phones.closing.insert(0, streamer)
    streamer.start()
    return streamer


def video_devices(master, office, callee_video=("H264",), callee_media: dict | None = None):
    """A caller allowing VP8 and H264, a callee allowing `callee_video`, and the number that rings the callee."""
    caller = new_device(master, office, "vcaller", media={"video": {"codecs": ["VP8", "H264"]}})
    callee = new_device(
        master, office, "vcallee", media={"video": {"codecs": list(callee_video)}, **(callee_media or {})}
    )
    number = new_callflow(master, office, ring_device(callee))
    return caller, callee, number


def connect(caller: RtpPhone, callee: RtpPhone, number: str, offer: bytes, answer_with):
    """Call `number`; the callee answers with `answer_with(invite)`: (INVITE the callee got, caller's 200)."""
    caller.dial(number, offer)
    invite = callee.take_call()
    callee.answer(answer_with(invite))
    return invite, caller.outcome()


def flows(sender: list, receiver: list) -> bool:
    """Every port of `receiver` got PACKETS of the same port of `sender`'s RTP, in its payload type."""
    return all(
        theirs.received_rtp(mine.payload, mine.ssrc) >= PACKETS for mine, theirs in zip(sender, receiver, strict=True)
    )


def test_video_is_relayed_on_its_own_ports_both_ways_with_its_rtcp(rtp_phones, office, master):
    caller_dev, callee_dev, number = video_devices(master, office, callee_video=("H264", "VP8"))
    alice, bob = rtp_phones(caller_dev), rtp_phones(callee_dev)
    a_ports = media(rtp_phones, audio_port(), video_port(others=((34, "H263/90000"), (97, "VP8/90000"))))
    b_ports = media(rtp_phones, audio_port(), video_port())
    offer = sdp_body([port.sdp() for port in a_ports])

    invite, answered = connect(alice, bob, number, offer, lambda _: sdp_body([port.sdp() for port in b_ports]))

    offered = m_lines(invite.body)
    # the caller's order (VP8 first), H263 gone: the caller's device does not allow it
    assert [(kind, formats) for kind, _, formats in offered] == [("audio", ["0"]), ("video", ["97", "96"])]
    video_lines = section_lines(invite.body, 1)
    assert "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1" in video_lines, "fmtp travels with H264"
    assert "a=rtcp-fb:96 nack pli" in video_lines and "a=rtcp-fb:96 ccm fir" in video_lines
    assert answered.status == 200
    answer = m_lines(answered.body)
    assert [kind for kind, _, _ in answer] == ["audio", "video"]
    ports = [port for _, port, _ in offered + answer]
    assert all(relayed(port) for port in ports) and len(set(ports)) == 4, "audio and video on relay ports of their own"

    aim(a_ports, answered.body)
    aim(b_ports, invite.body)
    streaming(rtp_phones, a_ports)
    streaming(rtp_phones, b_ports)
    wait_for(lambda: flows(a_ports, b_ports) and flows(b_ports, a_ports), 10.0, "audio and video both ways")
    for phone_ports in (a_ports, b_ports):
        audio, video = phone_ports
        assert {p.payload_type for p in audio.rtp_in} == {PCMU}, "no video on the audio port"
        assert {p.payload_type for p in video.rtp_in} == {H264}, "no audio on the video port"
        assert all(p.payload[:1] == b"\x65" and len(p.payload) == 1000 for p in video.rtp_in), "frames arrive whole"
    wait_for(
        lambda: (
            any(p.payload_type == 200 and p.ssrc == a_ports[1].ssrc for p in b_ports[1].rtcp_in)
            and any(p.payload_type == 200 and p.ssrc == b_ports[1].ssrc for p in a_ports[1].rtcp_in)
        ),
        5.0,
        "each side's video RTCP sender report on the other's video RTCP port",
    )
    assert not any(p.ssrc == a_ports[1].ssrc for p in b_ports[0].rtcp_in), "video RTCP stays off the audio RTCP port"

    assert alice.bye().status == 200
    bob.answer_bye()
    legs = legs_of(master, office, alice.call_id)
    assert {leg["hangup_cause"] for leg in legs} == {"NORMAL_CLEARING"}


def test_a_callee_without_video_codecs_gets_video_declined_and_the_call_goes_on_audio_only(
    rtp_phones,
    office,
    master,
):
    caller_dev, callee_dev, number = video_devices(master, office, callee_video=())
    alice, bob = rtp_phones(caller_dev), rtp_phones(callee_dev)
    a_ports = media(rtp_phones, audio_port(), video_port())
    b_audio = media(rtp_phones, audio_port())
    offer = sdp_body([port.sdp() for port in a_ports])

    invite, answered = connect(
        alice, bob, number, offer, lambda _: sdp_body([b_audio[0].sdp(), "m=video 0 RTP/AVP 96\r\n"])
    )

    assert [(kind, port == 0) for kind, port, _ in m_lines(invite.body)] == [("audio", False), ("video", True)]
    assert answered.status == 200
    assert [(kind, port == 0) for kind, port, _ in m_lines(answered.body)] == [("audio", False), ("video", True)]
    aim(a_ports, answered.body)
    aim(b_audio, invite.body)
    streaming(rtp_phones, a_ports)
    streaming(rtp_phones, b_audio)
    wait_for(lambda: flows(a_ports[:1], b_audio) and flows(b_audio, a_ports[:1]), 10.0, "audio both ways")
    assert alice.bye().status == 200
    bob.answer_bye()


def test_an_answer_that_drops_the_video_line_still_reaches_the_caller_with_every_m_line(
    rtp_phones,
    office,
    master,
):
    caller_dev, callee_dev, number = video_devices(master, office)
    alice, bob = rtp_phones(caller_dev), rtp_phones(callee_dev)
    a_ports = media(rtp_phones, audio_port(), video_port())
    b_audio = media(rtp_phones, audio_port())

    invite, answered = connect(
        alice, bob, number, sdp_body([port.sdp() for port in a_ports]), lambda _: sdp_body([b_audio[0].sdp()])
    )

    assert [kind for kind, _, _ in m_lines(invite.body)] == ["audio", "video"]
    assert answered.status == 200
    assert [(kind, port == 0) for kind, port, _ in m_lines(answered.body)] == [("audio", False), ("video", True)]
    assert alice.bye().status == 200
    bob.answer_bye()


def test_an_audio_mismatch_is_488_even_when_video_matches(rtp_phones, office, master):
    caller_dev = new_device(
        master, office, "vcaller", media={"audio": {"codecs": ["PCMU"]}, "video": {"codecs": ["H264"]}}
    )
    callee_dev = new_device(
        master, office, "vcallee", media={"audio": {"codecs": ["PCMA"]}, "video": {"codecs": ["H264"]}}
    )
    number = new_callflow(master, office, ring_device(callee_dev))
    alice, bob = rtp_phones(caller_dev), rtp_phones(callee_dev)
    a_ports = media(rtp_phones, audio_port(), video_port())

    alice.dial(number, sdp_body([port.sdp() for port in a_ports]))

    assert alice.outcome().status == 488
    [inbound] = legs_of(master, office, alice.call_id, count=1)
    assert inbound["hangup_cause"] == "INCOMPATIBLE_DESTINATION"
    assert bob.sip.receive(0.3) is None, "the callee is never rung"


def test_a_late_offer_with_video_gets_an_answer_with_every_m_line(rtp_phones, office, master):
    caller_dev, callee_dev, number = video_devices(master, office)
    alice, bob = rtp_phones(caller_dev), rtp_phones(callee_dev)
    a_audio = media(rtp_phones, audio_port())
    b_ports = media(rtp_phones, audio_port(), video_port())

    alice.dial(number, b"")
    invite = bob.take_call()
    assert not invite.body, "a late offer stays one"
    bob.answer(sdp_body([port.sdp() for port in b_ports]), wait_ack=False)  # the offer, in the 200

    answered = alice.outcome(ack_body=sdp_body([a_audio[0].sdp()]))  # the caller answers audio only
    ack = bob.expect("ACK")

    assert answered.status == 200
    assert [(kind, port == 0) for kind, port, _ in m_lines(answered.body)] == [("audio", False), ("video", False)]
    assert [(kind, port == 0) for kind, port, _ in m_lines(ack.body)] == [("audio", False), ("video", True)]
    aim(a_audio, answered.body)
    aim(b_ports, ack.body)
    streaming(rtp_phones, a_audio)
    streaming(rtp_phones, b_ports)
    wait_for(lambda: flows(a_audio, b_ports[:1]) and flows(b_ports[:1], a_audio), 10.0, "audio both ways")
    assert alice.bye().status == 200
    bob.answer_bye()


def test_hold_and_resume_keep_the_video_line_and_video_comes_back(rtp_phones, office, master):
    caller_dev, callee_dev, number = video_devices(master, office)
    alice, bob = rtp_phones(caller_dev), rtp_phones(callee_dev)
    a_ports = media(rtp_phones, audio_port(), video_port())
    b_ports = media(rtp_phones, audio_port(), video_port())
    _, answered = connect(
        alice,
        bob,
        number,
        sdp_body([port.sdp() for port in a_ports]),
        lambda _: sdp_body([port.sdp() for port in b_ports]),
    )
    assert answered.status == 200

    # hold: both sections sendonly; the callee answers without its video line, which declines it
    cseq = alice.send_reinvite(sdp_body([port.sdp(direction="sendonly") for port in a_ports], version=2))
    held, _ = bob.answer_reinvite(sdp_body([b_ports[0].sdp(direction="recvonly")], version=2))
    assert [kind for kind, _, _ in m_lines(held.body)] == ["audio", "video"]
    on_hold = alice.finish_reinvite(cseq)
    assert on_hold.status == 200
    assert [(kind, port == 0) for kind, port, _ in m_lines(on_hold.body)] == [("audio", False), ("video", True)]

    # resume with video: the section is taken up again on new relay ports
    cseq = alice.send_reinvite(sdp_body([port.sdp() for port in a_ports], version=3))
    resumed, _ = bob.answer_reinvite(sdp_body([port.sdp() for port in b_ports], version=3))
    back = alice.finish_reinvite(cseq)
    assert back.status == 200
    assert [(kind, port == 0) for kind, port, _ in m_lines(back.body)] == [("audio", False), ("video", False)]
    aim(a_ports, back.body)
    aim(b_ports, resumed.body)
    streaming(rtp_phones, a_ports)
    streaming(rtp_phones, b_ports)
    wait_for(lambda: flows(a_ports, b_ports) and flows(b_ports, a_ports), 10.0, "audio and video after resuming")
    assert alice.bye().status == 200
    bob.answer_bye()


def test_bypassed_media_keeps_the_video_section(rtp_phones, office, master):
    caller_dev, callee_dev, number = video_devices(master, office, callee_media={"bypass_media": True})
    alice, bob = rtp_phones(caller_dev), rtp_phones(callee_dev)
    a_ports = media(rtp_phones, audio_port(), video_port())
    b_ports = media(rtp_phones, audio_port(), video_port())

    invite, answered = connect(
        alice,
        bob,
        number,
        sdp_body([port.sdp() for port in a_ports]),
        lambda _: sdp_body([port.sdp() for port in b_ports]),
    )

    assert [(kind, port) for kind, port, _ in m_lines(invite.body)] == [(p.kind, p.port) for p in a_ports]
    assert [(kind, port) for kind, port, _ in m_lines(answered.body)] == [(p.kind, p.port) for p in b_ports]
    aim(a_ports, answered.body)
    aim(b_ports, invite.body)
    streaming(rtp_phones, a_ports)
    streaming(rtp_phones, b_ports)
    wait_for(lambda: flows(a_ports, b_ports) and flows(b_ports, a_ports), 10.0, "audio and video phone to phone")
    assert alice.bye().status == 200
    bob.answer_bye()


def test_an_accounts_bypass_media_sends_video_phone_to_phone(rtp_phones, office, master):
    account = master.create_account(master.account_id, unique("Bypass"), media={"bypass_media": True})
    numbers = iter(range(5000, 5100))
    bypassing = SimpleNamespace(
        id=account["id"], realm=account["realm"], port=office.port, next_number=lambda: str(next(numbers))
    )
    caller_dev, callee_dev, number = video_devices(master, bypassing)
    alice, bob = rtp_phones(caller_dev, bypassing), rtp_phones(callee_dev, bypassing)
    a_ports = media(rtp_phones, audio_port(), video_port())
    b_ports = media(rtp_phones, audio_port(), video_port())

    invite, answered = connect(
        alice,
        bob,
        number,
        sdp_body([port.sdp() for port in a_ports]),
        lambda _: sdp_body([port.sdp() for port in b_ports]),
    )

    assert [(kind, port) for kind, port, _ in m_lines(invite.body)] == [(p.kind, p.port) for p in a_ports]
    assert [(kind, port) for kind, port, _ in m_lines(answered.body)] == [(p.kind, p.port) for p in b_ports]
    assert alice.bye().status == 200
    bob.answer_bye()


def test_a_phone_without_video_declines_it_and_the_caller_still_gets_every_m_line(rtp_phones, phones, office, master):
    caller_dev, callee_dev, number = video_devices(master, office)
    alice = rtp_phones(caller_dev)
    bob = phones("pjvideo")
    assert bob.register(office.server, office.realm, callee_dev.username, callee_dev.password) == 200
    a_ports = media(rtp_phones, audio_port(), video_port())

    alice.dial(number, sdp_body([port.sdp() for port in a_ports]))
    incoming = bob.wait_incoming()
    assert "m=video " in incoming.invite
    incoming.answer()
    answered = alice.outcome()

    assert answered.status == 200, answered
    assert [(kind, port == 0) for kind, port, _ in m_lines(answered.body)] == [("audio", False), ("video", True)]
    aim(a_ports, answered.body)
    streaming(rtp_phones, a_ports)
    incoming.send_tone(1000)
    wait_for(lambda: len(a_ports[0].rtp_in) >= PACKETS, 10.0, "the phone's audio")
    assert {p.payload_type for p in a_ports[0].rtp_in} == {PCMU}
    assert not a_ports[1].rtp_in, "nothing on the declined video port"
    assert alice.bye().status == 200
    incoming.wait("DISCONNECTED")


def test_early_media_without_the_video_line_reaches_the_caller_with_every_m_line(rtp_phones, office, master):
    caller_dev, callee_dev, number = video_devices(master, office)
    alice, bob = rtp_phones(caller_dev), rtp_phones(callee_dev)
    a_ports = media(rtp_phones, audio_port(), video_port())
    b_ports = media(rtp_phones, audio_port(), video_port())

    alice.dial(number, sdp_body([port.sdp() for port in a_ports]))
    invite = bob.take_call()
    bob.sip.send(bob.response(invite, 183, "Session Progress", sdp_body([b_ports[0].sdp()])))
    early = alice.next(lambda m: isinstance(m, Response) and m.status == 183)
    assert [(kind, port == 0) for kind, port, _ in m_lines(early.body)] == [("audio", False), ("video", True)]

    bob.answer(sdp_body([b_ports[0].sdp()]))
    answered = alice.outcome()
    assert [(kind, port == 0) for kind, port, _ in m_lines(answered.body)] == [("audio", False), ("video", True)]
    assert alice.bye().status == 200
    bob.answer_bye()


def test_an_audio_call_takes_up_video_with_a_re_invite(rtp_phones, office, master):
    caller_dev, callee_dev, number = video_devices(master, office)
    alice, bob = rtp_phones(caller_dev), rtp_phones(callee_dev)
    a_ports = media(rtp_phones, audio_port(), video_port())
    b_ports = media(rtp_phones, audio_port(), video_port())
    _, answered = connect(alice, bob, number, sdp_body([a_ports[0].sdp()]), lambda _: sdp_body([b_ports[0].sdp()]))
    assert [kind for kind, _, _ in m_lines(answered.body)] == ["audio"]

    cseq = alice.send_reinvite(sdp_body([port.sdp() for port in a_ports], version=2))
    upgraded, _ = bob.answer_reinvite(sdp_body([port.sdp() for port in b_ports], version=2))
    back = alice.finish_reinvite(cseq)

    assert back.status == 200
    assert [(kind, port == 0) for kind, port, _ in m_lines(back.body)] == [("audio", False), ("video", False)]
    aim(a_ports, back.body)
    aim(b_ports, upgraded.body)
    streaming(rtp_phones, a_ports)
    streaming(rtp_phones, b_ports)
    wait_for(lambda: flows(a_ports, b_ports) and flows(b_ports, a_ports), 10.0, "audio and video after the upgrade")
    assert alice.bye().status == 200
    bob.answer_bye()
