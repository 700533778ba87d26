"""The RTP relay with real UDP sockets on 127.0.0.1: two fake phones talk through it."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest

from cloudpbx.config import Settings, parse_port_range
from cloudpbx.media import rtp, tones
from cloudpbx.media.codecs import CodecPolicy, Incompatible
from cloudpbx.media.relay import MediaRelay, NoPorts, SessionClosed
from cloudpbx.media.sdp import SessionDescription

HOST = "127.0.0.1"
PORTS = (41000, 41999)
QUIET_S = 0.3  # how long a phone listens before concluding nothing comes


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    return sock


class Phone:
    """A fake phone: an RTP socket (its RTCP socket next to it when asked), a tone, a sequence counter."""

    def __init__(self, tone: float, ssrc: int) -> None:
        self.sock = udp_socket()
        self.port = self.sock.getsockname()[1]
        self.tone = tones.ToneGenerator(tone)
        self.ssrc = ssrc
        self.seq = 1000
        self.relay_port = 0  # where the relay takes this phone's media, from the SDP the phone was given

    def sdp(
        self,
        direction: str = "sendrecv",
        address: str = HOST,
        port: int | None = None,
        codecs: str = "0 8 101",
        extra: str = "",
    ) -> bytes:
        return (
            f"v=0\r\no=phone {self.ssrc} 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
            f"m=audio {self.port if port is None else port} RTP/AVP {codecs}\r\n"
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            f"a=fmtp:101 0-16\r\na={direction}\r\n{extra}"
        ).encode()

    def given(self, sdp: bytes) -> SessionDescription:
        """Take the SDP the B2BUA would put in this phone's INVITE or answer."""
        parsed = SessionDescription.parse(sdp)
        self.relay_port = parsed.media[0].port
        return parsed

    async def send(self, count: int, sock: socket.socket | None = None, skip: set[int] = frozenset()) -> None:
        loop = asyncio.get_running_loop()
        for n in range(count):
            packet = rtp.build(0, self.seq, self.seq * 160, self.ssrc, self.tone.frame())
            if n not in skip:
                await loop.sock_sendto(sock or self.sock, packet, (HOST, self.relay_port))
            self.seq += 1

    async def receive(self, count: int, sock: socket.socket | None = None) -> list[bytes]:
        loop = asyncio.get_running_loop()
        return [(await asyncio.wait_for(loop.sock_recvfrom(sock or self.sock, 2048), 2))[0] for _ in range(count)]

    def hears_nothing(self, sock: socket.socket | None = None) -> bool:
        try:
            (sock or self.sock).recvfrom(2048)
        except BlockingIOError:
            return True
        return False

    def close(self) -> None:
        self.sock.close()


def tone_of(packets: list[bytes]) -> float | None:
    payloads = [rtp.RtpHeader.parse(p).payload(p) for p in packets]
    return tones.detect_tone_in_frames(payloads, [440, 1000])


@pytest.fixture
async def relay():
    relay = MediaRelay(HOST, PORTS)
    yield relay
    await relay.close()


@pytest.fixture
def phones():
    made = []

    def make(tone: float) -> Phone:
        made.append(Phone(tone, ssrc=len(made) + 1))
        return made[-1]

    yield make
    for phone in made:
        phone.close()


async def connect(relay: MediaRelay, a: Phone, b: Phone, call_id: str = "call-1"):
    session = relay.open(call_id)
    b.given(await session.offer_for_b(a.sdp(), CodecPolicy(("PCMU", "PCMA")), CodecPolicy(("PCMU",))))
    a.given(await session.answer_for_a(b.sdp()))
    return session


async def test_two_way_audio_through_the_relay(relay, phones):
    a, b = phones(440), phones(1000)
    session = await connect(relay, a, b)
    await a.send(25)
    await b.send(25)
    assert tone_of(await b.receive(25)) == 440
    assert tone_of(await a.receive(25)) == 1000
    stats = session.stats()
    assert (stats["a"].packets_in, stats["a"].packets_out, stats["b"].packets_in, stats["b"].packets_out) == (
        25,
        25,
        25,
        25,
    )
    assert stats["a"].bytes_in == 25 * (12 + 160) == stats["b"].bytes_out
    assert stats["a"].rtp_expected == 25 and stats["a"].rtp_lost == 0 and stats["a"].loss == 0.0


async def test_sdp_is_anchored_on_the_relay(relay, phones):
    a, b = phones(440), phones(1000)
    session = relay.open("call-sdp")
    to_b = await session.offer_for_b(a.sdp(extra="a=candidate:1 1 UDP 1 192.168.1.2 9 typ host\r\n"))
    to_a = await session.answer_for_a(b.sdp(codecs="0 101"))
    offer, answer = SessionDescription.parse(to_b), SessionDescription.parse(to_a)
    assert offer.media_address(offer.media[0]) == HOST and answer.media_address(answer.media[0]) == HOST
    ports = {offer.media[0].port, answer.media[0].port}
    assert not ports & {a.port, b.port}
    assert all(PORTS[0] <= p <= PORTS[1] and p % 2 == 0 for p in ports) and len(ports) == 2
    assert b"candidate" not in to_b
    assert answer.media[0].formats == ["0", "101"]


async def test_latching_follows_a_phone_behind_nat(relay, phones):
    """The SDP names one port, the phone's NAT sends from another: replies go where packets come from."""
    a, b = phones(440), phones(1000)
    nat = udp_socket()
    try:
        session = await connect(relay, a, b)
        await b.send(3)  # before A is heard, B's packets go to A's SDP address
        assert len(await a.receive(3)) == 3
        await a.send(5, sock=nat)
        assert tone_of(await b.receive(5)) == 440
        await b.send(5)
        assert tone_of(await a.receive(5, sock=nat)) == 1000
        assert a.hears_nothing()
        await a.send(2)  # a stranger after latching (here A's SDP port itself) is not followed
        await asyncio.sleep(0.05)
        assert b.hears_nothing()
        assert session.endpoints("a")[0].strays == 2
    finally:
        nat.close()


async def test_hold_and_resume_via_update(relay, phones):
    a, b = phones(440), phones(1000)
    session = await connect(relay, a, b)
    to_b = await session.update("a", a.sdp("sendonly"))  # A puts B on hold
    assert SessionDescription.parse(to_b).direction(SessionDescription.parse(to_b).media[0]) == "sendonly"
    a.given(await session.answer_for_a(b.sdp("recvonly")))
    await b.send(5)
    await a.send(5)
    assert tone_of(await b.receive(5)) == 440  # A's side (music on hold, say) still reaches B
    await asyncio.sleep(QUIET_S)
    assert a.hears_nothing()
    assert session.on_hold() and session.stats()["b"].dropped == 5
    await session.update("a", a.sdp("sendrecv"))  # resume, same ports
    a.given(await session.update("b", b.sdp("sendrecv")))
    await b.send(5)
    assert tone_of(await a.receive(5)) == 1000
    assert not session.on_hold()


async def test_a_refused_offer_leaves_the_media_as_last_agreed(relay, phones):
    """A hold that also adds video, refused by the other phone: A is heard and hears again, and the video ports
    the offer bound go back."""
    a, b = phones(440), phones(1000)
    session = await connect(relay, a, b)
    video = "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    free = len(relay.pool)
    await session.update("a", a.sdp("sendonly", extra=video.replace("video 0", f"video {a.port + 2}")))
    session.refused()
    assert len(relay.pool) == free, "the refused offer's video ports are released"
    await a.send(5)
    await b.send(5)
    assert tone_of(await b.receive(5)) == 440
    assert tone_of(await a.receive(5)) == 1000, "A takes media again: its hold never happened"
    assert not session.on_hold()
    answer = SessionDescription.parse(await session.answer_for_a(b.sdp()))
    assert [m.kind for m in answer.media] == ["audio"], "answers keep the m-lines last agreed"


async def test_old_style_hold_with_zero_address(relay, phones):
    a, b = phones(440), phones(1000)
    session = await connect(relay, a, b)
    to_b = SessionDescription.parse(await session.update("a", a.sdp(address="0.0.0.0")))
    assert to_b.connection == "0.0.0.0"  # the hold is passed on
    await b.send(3)
    await asyncio.sleep(QUIET_S)
    assert a.hears_nothing()
    await session.update("a", a.sdp())
    await b.send(3)
    assert len(await a.receive(3)) == 3  # still latched nowhere new: back to the SDP address


async def test_rtcp_goes_between_the_odd_ports(relay, phones):
    a, b = phones(440), phones(1000)
    a_rtcp, b_rtcp = udp_socket(), udp_socket()
    try:
        session = relay.open("call-rtcp")
        b.given(await session.offer_for_b(a.sdp(extra=f"a=rtcp:{a_rtcp.getsockname()[1]}\r\n")))
        a.given(await session.answer_for_a(b.sdp(extra=f"a=rtcp:{b_rtcp.getsockname()[1]}\r\n")))
        report = bytes([0x80, 200, 0, 6]) + bytes(24)  # an empty sender report
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(a_rtcp, report, (HOST, a.relay_port + 1))
        data, _ = await asyncio.wait_for(loop.sock_recvfrom(b_rtcp, 2048), 2)
        assert data == report
        assert rtp.is_rtcp(data)
        assert session.stats()["a"].rtp_expected == 0  # RTCP is not counted as RTP
    finally:
        a_rtcp.close()
        b_rtcp.close()


async def test_loss_is_estimated_from_sequence_numbers(relay, phones):
    a, b = phones(440), phones(1000)
    session = await connect(relay, a, b)
    await a.send(100, skip={10, 11, 12, 50, 98})
    await b.receive(95)
    stats = session.stats()["a"]
    assert stats.rtp_expected == 100
    assert stats.rtp_lost == 5
    assert stats.loss == pytest.approx(0.05)


async def test_sequence_wraps_and_restarts_are_not_loss(relay, phones):
    a, b = phones(440), phones(1000)
    session = await connect(relay, a, b)
    a.seq = 65530
    await a.send(12)  # wraps past 65535
    a.seq = 30000
    await a.send(5)  # a jump: a new stream, not 17,000 lost packets
    await b.receive(17)
    assert session.stats()["a"].rtp_lost == 0


async def test_ports_are_released_on_close(relay, phones):
    a, b = phones(440), phones(1000)
    free = len(relay.pool)
    session = await connect(relay, a, b)
    assert len(relay.pool) == free - 2
    used = [a.relay_port, b.relay_port]
    session.close()
    session.close()
    await asyncio.sleep(0.01)  # transports finish closing on the next loop turn
    assert len(relay.pool) == free and relay.get("call-1") is None
    for port in used:
        for p in (port, port + 1):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind((HOST, p))
    with pytest.raises(RuntimeError):
        await session.update("a", a.sdp())


async def test_exhausted_range_raises_no_ports(phones):
    small = MediaRelay(HOST, (42000, 42005))  # three pairs: one audio call takes two
    a, b = phones(440), phones(1000)
    try:
        first = await connect(small, a, b, "first")
        with pytest.raises(NoPorts):
            await small.open("second").offer_for_b(a.sdp())
        assert len(small.pool) == 1  # the pair bound for the second call's A side went back
        first.close()
        small.get("second").close()
        await asyncio.sleep(0.01)
        assert len(small.pool) == 3
        await connect(small, a, b, "third")
    finally:
        await small.close()


async def test_incompatible_codecs_take_no_ports(relay, phones):
    a = phones(440)
    free = len(relay.pool)
    session = relay.open("call-488")
    with pytest.raises(Incompatible) as caught:
        await session.offer_for_b(a.sdp(codecs="0 101"), CodecPolicy(("PCMU",)), CodecPolicy(("G729",)))
    assert caught.value.hangup_cause == "INCOMPATIBLE_DESTINATION"
    assert len(relay.pool) == free
    session.close()


async def test_bypass_passes_sdp_unchanged(relay, phones):
    a, b = phones(440), phones(1000)
    free = len(relay.pool)
    session = relay.open("call-bypass", bypass=True)
    offer = a.sdp()
    assert await session.offer_for_b(offer, CodecPolicy(("PCMA",)), CodecPolicy()) == offer
    assert await session.answer_for_a(b.sdp().decode()) == b.sdp()
    assert len(relay.pool) == free
    with pytest.raises(Incompatible):
        await relay.open("call-bypass-488", bypass=True).offer_for_b(offer, CodecPolicy(("G729",)))


async def test_video_gets_its_own_port_pairs(relay, phones):
    a, b = phones(440), phones(1000)
    a_video, b_video = udp_socket(), udp_socket()
    video = "m=video {} RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
    try:
        session = relay.open("call-video")
        both = CodecPolicy(("PCMU",), ("VP8",))
        to_b = SessionDescription.parse(
            await session.offer_for_b(a.sdp(extra=video.format(a_video.getsockname()[1])), both, both)
        )
        to_a = SessionDescription.parse(await session.answer_for_a(b.sdp(extra=video.format(b_video.getsockname()[1]))))
        assert len({to_b.media[0].port, to_b.media[1].port, to_a.media[0].port, to_a.media[1].port}) == 4
        frame = rtp.build(96, 1, 0, 77, b"\x10" * 900)
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(b_video, frame, (HOST, to_b.media[1].port))  # B's video reaches A
        assert (await asyncio.wait_for(loop.sock_recvfrom(a_video, 2048), 2))[0] == frame
        declined = relay.open("call-declined")  # B takes the audio and declines the video it was offered
        await declined.offer_for_b(a.sdp(extra=video.format(a_video.getsockname()[1])), both, both)
        to_a = SessionDescription.parse(await declined.answer_for_a(b.sdp(extra=video.format(0))))
        assert to_a.media[1].port == 0 and not declined.on_hold()
        rejected = SessionDescription.parse(
            await relay.open("call-novideo").offer_for_b(
                a.sdp(extra=video.format(a_video.getsockname()[1])), both, CodecPolicy(("PCMU",), ())
            )
        )
        assert rejected.media[1].port == 0
    finally:
        a_video.close()
        b_video.close()


async def test_inactive_media_times_out():
    relay = MediaRelay(HOST, PORTS, inactivity_timeout=0.2, sweep_interval=0.05)
    a, b = Phone(440, 1), Phone(1000, 2)
    timed_out = []
    try:
        watched = relay.open("watched", on_timeout=timed_out.append)
        b.given(await watched.offer_for_b(a.sdp()))
        unanswered = relay.open("unanswered")
        await unanswered.offer_for_b(a.sdp())
        unwatched = await connect(relay, a, b, "unwatched")
        a.given(await watched.answer_for_a(b.sdp()))
        await asyncio.sleep(0.6)
        assert timed_out == [watched] and not watched.closed  # told once, left to its owner
        assert unwatched.closed and relay.get("unwatched") is None
        assert not unanswered.closed  # still ringing: no media expected yet
    finally:
        await relay.close()
        a.close()
        b.close()


async def test_fifty_concurrent_calls(relay, phones):
    pairs = [(phones(440), phones(1000)) for _ in range(50)]
    sessions = [await connect(relay, a, b, f"load-{n}") for n, (a, b) in enumerate(pairs)]
    for _ in range(10):
        for a, b in pairs:
            await a.send(1)
            await b.send(1)
        await asyncio.sleep(0.005)
    for a, b in pairs:
        assert len(await a.receive(10)) == len(await b.receive(10)) == 10
    assert sum(s.stats()["a"].packets_out + s.stats()["b"].packets_out for s in sessions) == 1000
    for session in sessions:
        session.close()
    assert not relay.sessions


def test_a_wildcard_bind_needs_an_announced_address():
    with pytest.raises(ValueError):
        MediaRelay("0.0.0.0")
    assert MediaRelay("0.0.0.0", announce="192.0.2.10").announce == "192.0.2.10"


def test_rtp_port_range_setting(monkeypatch):
    assert parse_port_range("20000-20099") == (20000, 20099)
    for bad in ("20000", "20000-19000", "a-b", "0-100", "20001-20002", "1-70000"):
        with pytest.raises(ValueError):
            parse_port_range(bad)
    monkeypatch.setenv("CLOUDPBX_RTP_PORTS", "30000-30999")
    assert Settings.from_env().rtp_ports == (30000, 30999)
    assert Settings.from_env(rtp_ports="40000-40010").rtp_ports == (40000, 40010)
    monkeypatch.delenv("CLOUDPBX_RTP_PORTS")
    assert Settings.from_env().rtp_ports == (16384, 32767)


def test_serve_refuses_a_bad_rtp_port_range(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "cloudpbx", "serve", "--data-dir", str(tmp_path), "--rtp-ports", "30000-20000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "invalid RTP port range" in done.stderr


H264_SECTION = (
    "m=video {} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=rtcp:{}\r\na=sendrecv\r\n"
)
VIDEO_BOTH = CodecPolicy(None, ("H264",))


async def test_video_and_its_rtcp_are_relayed_on_their_own_ports_both_ways(relay, phones):
    a, b = phones(440), phones(1000)
    sockets = [udp_socket() for _ in range(4)]  # A's video RTP and RTCP, B's
    a_rtp, a_rtcp, b_rtp, b_rtcp = sockets
    loop = asyncio.get_running_loop()
    try:
        session = relay.open("call-h264")
        a_video = H264_SECTION.format(a_rtp.getsockname()[1], a_rtcp.getsockname()[1])
        b_video = H264_SECTION.format(b_rtp.getsockname()[1], b_rtcp.getsockname()[1])
        to_b = b.given(await session.offer_for_b(a.sdp(extra=a_video), VIDEO_BOTH, VIDEO_BOTH))
        to_a = a.given(await session.answer_for_a(b.sdp(extra=b_video)))
        assert [m.kind for m in to_a.media] == ["audio", "video"] and to_a.media[1].attribute("rtcp") is None
        for sender, receiver, relay_port, ssrc in (
            (a_rtp, b_rtp, to_a.media[1].port, 5),
            (b_rtp, a_rtp, to_b.media[1].port, 6),
        ):
            frames = [rtp.build(96, n, n * 3000, ssrc, bytes([n]) * 1200) for n in range(30)]
            for frame in frames:
                await loop.sock_sendto(sender, frame, (HOST, relay_port))
            got = [(await asyncio.wait_for(loop.sock_recvfrom(receiver, 2048), 2))[0] for _ in frames]
            assert got == frames
        report = bytes([0x80, 200, 0, 6]) + (5).to_bytes(4, "big") + bytes(20)
        await loop.sock_sendto(a_rtcp, report, (HOST, to_a.media[1].port + 1))
        assert (await asyncio.wait_for(loop.sock_recvfrom(b_rtcp, 2048), 2))[0] == report
        assert b.hears_nothing() and a.hears_nothing(), "no video on the audio ports"
        assert session.stats()["a"].rtp_expected == 30
    finally:
        for sock in sockets:
            sock.close()


async def test_a_declined_video_section_holds_no_ports(relay, phones):
    a, b = phones(440), phones(1000)
    video = H264_SECTION.format(a.port + 2, a.port + 3)
    free = len(relay.pool)
    no_video = relay.open("call-no-video")
    to_b = SessionDescription.parse(await no_video.offer_for_b(a.sdp(extra=video), VIDEO_BOTH, CodecPolicy(None, ())))
    assert to_b.media[1].port == 0 and to_b.media[1].lines == []
    assert len(relay.pool) == free - 2, "audio only"
    to_a = SessionDescription.parse(await no_video.answer_for_a(b.sdp(extra="m=video 0 RTP/AVP 96\r\n")))
    assert [(m.kind, m.port == 0) for m in to_a.media] == [("audio", False), ("video", True)]

    dropped = relay.open("call-dropped")
    to_b = SessionDescription.parse(await dropped.offer_for_b(a.sdp(extra=video), VIDEO_BOTH, VIDEO_BOTH))
    assert len(relay.pool) == free - 6
    to_a = SessionDescription.parse(await dropped.answer_for_a(b.sdp()))  # the callee's answer lacks the video line
    assert [(m.kind, m.port == 0) for m in to_a.media] == [("audio", False), ("video", True)]
    assert len(relay.pool) == free - 4, "the video ports went back"
    again = SessionDescription.parse(await dropped.update("a", a.sdp(extra=video)))  # a re-offer takes video up
    assert again.media[1].port != 0 and len(relay.pool) == free - 6
    answer = SessionDescription.parse(await dropped.answer("b", b.sdp(extra=video.replace("a=sendrecv", "a=recvonly"))))
    assert answer.media[1].port not in (0, to_b.media[1].port)
    await dropped.update("a", a.sdp(extra="m=video 0 RTP/AVP 96\r\n"))  # a re-offer turning video off
    assert len(relay.pool) == free - 6, "the ports stay until the answer: the offer may yet be refused"
    await dropped.answer("b", b.sdp(extra="m=video 0 RTP/AVP 96\r\n"))
    assert len(relay.pool) == free - 4


async def test_bypass_keeps_video_and_declines_it_only_without_a_common_codec(relay, phones):
    a, b = phones(440), phones(1000)
    video = H264_SECTION.format(a.port + 2, a.port + 3)
    free = len(relay.pool)
    session = relay.open("call-bypass-video", bypass=True)
    offer = a.sdp(extra=video)
    assert await session.offer_for_b(offer, VIDEO_BOTH, VIDEO_BOTH) == offer
    answer = b.sdp(extra=video)
    assert await session.answer_for_a(answer) == answer
    assert SessionDescription.parse(await session.answer_for_a(b.sdp())).media[1].port == 0, "the m-line comes back"

    declining = relay.open("call-bypass-no-video", bypass=True)
    to_b = SessionDescription.parse(await declining.offer_for_b(offer, VIDEO_BOTH, CodecPolicy(("PCMU",), ())))
    assert to_b.media[0].formats == ["0", "8", "101"], "bypassed codecs are not narrowed"
    assert (to_b.media[0].port, to_b.media[1].port) == (a.port, 0)
    assert len(relay.pool) == free


async def test_video_latches_to_a_phone_behind_nat_like_audio(relay, phones):
    """A's video SDP names one port, its NAT sends video from another: B's video goes back there, audio untouched."""
    a, b = phones(440), phones(1000)
    sdp_video, nat_video, b_video = udp_socket(), udp_socket(), udp_socket()
    loop = asyncio.get_running_loop()
    try:
        session = relay.open("call-video-nat")
        to_b = b.given(
            await session.offer_for_b(
                a.sdp(extra=H264_SECTION.format(sdp_video.getsockname()[1], 9)), VIDEO_BOTH, VIDEO_BOTH
            )
        )
        to_a = a.given(await session.answer_for_a(b.sdp(extra=H264_SECTION.format(b_video.getsockname()[1], 9))))
        frame = rtp.build(96, 1, 0, 7, b"\x65" * 800)
        await loop.sock_sendto(nat_video, frame, (HOST, to_a.media[1].port))
        assert (await asyncio.wait_for(loop.sock_recvfrom(b_video, 2048), 2))[0] == frame
        reply = rtp.build(96, 1, 0, 8, b"\x41" * 800)
        await loop.sock_sendto(b_video, reply, (HOST, to_b.media[1].port))
        assert (await asyncio.wait_for(loop.sock_recvfrom(nat_video, 2048), 2))[0] == reply
        assert a.hears_nothing(sdp_video), "not to the port the SDP named"
        video_a, audio_a = session.streams[1].sides["a"].rtp, session.streams[0].sides["a"].rtp
        assert video_a.latched and not audio_a.latched, "each section latches on its own"
    finally:
        for sock in (sdp_video, nat_video, b_video):
            sock.close()


async def test_a_session_closed_while_binding_its_ports_gives_them_back_and_says_so(relay, phones):
    """A leg ending (its callee's BYE) while its offer binds ports: the offer fails with SessionClosed and the
    ports bound meanwhile go back to the pool instead of outliving the session."""
    free = len(relay.pool)
    session = relay.open("call-closing")
    offering = asyncio.ensure_future(session.offer_for_b(phones(440).sdp()))
    await asyncio.sleep(0)  # the offer is binding its first port pair now
    session.close()
    with pytest.raises(SessionClosed):
        await offering
    with pytest.raises(SessionClosed):
        await session.answer_for_a(phones(1000).sdp())
    assert len(relay.pool) == free
