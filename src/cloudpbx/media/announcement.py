"""A short tone played to a caller as early media before its call is refused (a carrier call over its trunk limit
hears it, then 486), from a port pair of the relay's pool.

The caller's offer is answered with the G.711 codec (PCMU or PCMA) it prefers, on its first audio section that has one;
every other section is declined. An offer with neither codec, or no usable audio, gets no announcement.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from cloudpbx.media import rtp
from cloudpbx.media.relay import MediaRelay, Side
from cloudpbx.media.sdp import Media, SdpError, SessionDescription, is_ip_literal
from cloudpbx.media.tones import FRAME_MS, ToneGenerator

CODECS = ("PCMU", "PCMA")
REFUSAL_TONE_HZ = 480.0  # the low note of the North American busy signal


class Announcement:
    def __init__(self, relay: MediaRelay, side: Side, codec: str, payload: int, target: tuple[str, int], answer: bytes):
        self.relay, self.side = relay, side
        self.codec, self.payload, self.target = codec, payload, target
        self.answer = answer  # the SDP to send the caller with the 183

    @classmethod
    async def answering(cls, relay: MediaRelay, offer: bytes) -> Announcement | None:
        """Ports bound and the answer made for `offer`, or None when it offers nothing we can play."""
        try:
            sdp = SessionDescription.parse(offer)
        except SdpError:
            return None
        for index, section in enumerate(sdp.media):
            chosen = _playable(sdp, section)
            if chosen is not None:
                codec, payload, address = chosen
                side = await relay.bind_side()
                answer = _answer(sdp, index, side.port, codec, payload, relay.announce)
                return cls(relay, side, codec, payload, (address, section.port), answer)
        return None

    async def play(self, seconds: float, stop: Callable[[], bool], frequency: float = REFUSAL_TONE_HZ) -> None:
        """Send the tone for `seconds`, one frame every 20 ms paced by the loop's clock, until `stop()` says the
        caller is gone."""
        transport = self.side.rtp.transport
        if transport is None:
            return
        loop = asyncio.get_running_loop()
        tone = ToneGenerator(frequency, self.codec)
        frames = int(seconds * 1000 / FRAME_MS)
        ssrc, sequence, stamp = random.getrandbits(32), random.getrandbits(16), random.getrandbits(32)
        start = loop.time()
        for n in range(frames):
            if stop():
                return
            payload = tone.frame()
            packet = rtp.build(self.payload, sequence + n, stamp + n * len(payload), ssrc, payload, marker=n == 0)
            transport.sendto(packet, self.target)
            await asyncio.sleep(max(0.0, start + (n + 1) * FRAME_MS / 1000 - loop.time()))

    def close(self) -> None:
        self.relay.release(self.side)


def _playable(sdp: SessionDescription, section: Media) -> tuple[str, int, str] | None:
    """(codec, payload number, address) of an audio section we can play into."""
    address = sdp.media_address(section)
    if section.kind != "audio" or section.port == 0 or not is_ip_literal(address) or address in ("0.0.0.0", "::"):
        return None
    for codec in section.codecs():  # the offerer's preference first
        if codec.name.upper() in CODECS and codec.rate == 8000:
            return codec.name.upper(), codec.payload, address
    return None


def _answer(offer: SessionDescription, index: int, port: int, codec: str, payload: int, address: str) -> bytes:
    family = "IP6" if ":" in address else "IP4"
    lines = [
        "v=0",
        f"o=cloudpbx {random.getrandbits(31)} 1 IN {family} {address}",
        "s=cloudpbx",
        f"c=IN {family} {address}",
        "t=0 0",
    ]
    for i, section in enumerate(offer.media):
        if i == index:
            lines += [f"m=audio {port} {section.proto} {payload}", f"a=rtpmap:{payload} {codec}/8000", "a=sendonly"]
        else:
            lines += section.declined().serialize()
    return ("\r\n".join(lines) + "\r\n").encode()
