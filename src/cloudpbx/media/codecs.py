"""KAZOO codec names (device/account `media.audio.codecs`, `media.video.codecs`) and SDP offer filtering.

A KAZOO name stands for one or more SDP formats, identified by (lower-case encoding name, clock rate); the
legacy names follow ecallmgr's mapping (G722_16 is G722 or G.722.1 at 16 kHz, G722_32 is G.722.1 at 32 kHz).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cloudpbx.media.sdp import Codec, Media, SessionDescription

INCOMPATIBLE_CAUSE = "INCOMPATIBLE_DESTINATION"
INCOMPATIBLE_CODE = 488
# formats that travel with any codec and are never filtered out
DTMF_ENCODINGS = frozenset({"telephone-event"})
NEGOTIATED_KINDS = ("audio", "video")

Format = tuple[str, int]

AUDIO_CODECS: dict[str, tuple[Format, ...]] = {
    "PCMU": (("pcmu", 8000),),
    "PCMA": (("pcma", 8000),),
    "G729": (("g729", 8000),),
    "GSM": (("gsm", 8000),),
    "G722": (("g722", 8000),),  # RFC 3551: G.722 is announced with an 8000 clock rate
    "G722_16": (("g722", 8000), ("g7221", 16000)),
    "G722_32": (("g7221", 32000),),
    "G7221@16000h": (("g7221", 16000),),
    "G7221@32000h": (("g7221", 32000),),
    "OPUS": (("opus", 48000),),
    "CELT@32000h": (("celt", 32000),),
    "CELT@48000h": (("celt", 48000),),
    "CELT@64000h": (("celt", 64000),),
    "CELT_48": (("celt", 48000),),
    "CELT_64": (("celt", 64000),),
    "Speex": (("speex", 8000),),
    "speex": (("speex", 8000),),
    "speex@16000h": (("speex", 16000),),
    "speex@32000h": (("speex", 32000),),
}
VIDEO_CODECS: dict[str, tuple[Format, ...]] = {
    "H261": (("h261", 90000),),
    "H263": (("h263", 90000),),
    "H264": (("h264", 90000),),
    "VP8": (("vp8", 90000),),
}
# static RTP payload types (RFC 3551) of the formats that have one
STATIC_PAYLOAD_TYPES: dict[Format, int] = {
    ("pcmu", 8000): 0,
    ("gsm", 8000): 3,
    ("pcma", 8000): 8,
    ("g722", 8000): 9,
    ("g729", 8000): 18,
    ("h261", 90000): 31,
    ("h263", 90000): 34,
}
# how each encoding is spelled in an rtpmap, and its channel count there
SDP_ENCODINGS: dict[str, tuple[str, int]] = {
    "pcmu": ("PCMU", 1),
    "pcma": ("PCMA", 1),
    "g729": ("G729", 1),
    "gsm": ("GSM", 1),
    "g722": ("G722", 1),
    "g7221": ("G7221", 1),
    "opus": ("opus", 2),
    "celt": ("CELT", 1),
    "speex": ("speex", 1),
    "h261": ("H261", 1),
    "h263": ("H263", 1),
    "h264": ("H264", 1),
    "vp8": ("VP8", 1),
}
FIRST_DYNAMIC_PAYLOAD = 96


class Incompatible(Exception):
    """No audio codec is allowed by both legs: answer 488 and hang up with INCOMPATIBLE_DESTINATION."""

    sip_code = INCOMPATIBLE_CODE
    hangup_cause = INCOMPATIBLE_CAUSE

    def __init__(self, offered: list[str]) -> None:
        super().__init__(f"no common audio codec (offered: {', '.join(offered) or 'none'})")
        self.offered = offered


def formats_of(names: Iterable[str], table: dict[str, tuple[Format, ...]]) -> frozenset[Format]:
    """The SDP formats a list of KAZOO names allows (unknown names allow nothing)."""
    return frozenset(fmt for name in names for fmt in table.get(name, ()))


@dataclass(frozen=True)
class CodecPolicy:
    """What one leg may use: KAZOO codec names per media kind; None means any codec."""

    audio: tuple[str, ...] | None = None
    video: tuple[str, ...] | None = None

    @classmethod
    def from_media(cls, media: dict | None) -> CodecPolicy:
        """From an endpoint's `media` object: an empty or absent audio list allows any audio codec (the
        platform's defaults, as in KAZOO); the video list is taken as written, so no list means no video."""
        media = media or {}
        audio = (media.get("audio") or {}).get("codecs")
        video = (media.get("video") or {}).get("codecs") or ()
        return cls(tuple(audio) if audio else None, tuple(video))

    def allowed(self, kind: str) -> frozenset[Format] | None:
        """The formats allowed for a media kind, None when any is."""
        names = self.audio if kind == "audio" else self.video
        if names is None:
            return None
        return formats_of(names, AUDIO_CODECS if kind == "audio" else VIDEO_CODECS)


def common_formats(kind: str, a: CodecPolicy, b: CodecPolicy) -> frozenset[Format] | None:
    """Formats both legs allow for a kind; None when neither restricts it."""
    first, second = a.allowed(kind), b.allowed(kind)
    if first is None:
        return second
    if second is None:
        return first
    return first & second


def negotiate(offer: SessionDescription, a: CodecPolicy, b: CodecPolicy) -> SessionDescription:
    """The offer to send on: a copy keeping, in the offerer's order, only codecs both legs allow (plus
    telephone-event). A video section with no common codec gets port 0; no common audio codec raises Incompatible."""
    out = offer.copy()
    audio_left = False
    for section in out.media:
        if section.kind not in NEGOTIATED_KINDS or section.port == 0:
            continue
        allowed = common_formats(section.kind, a, b)
        if allowed is not None:
            filter_section(section, allowed)
        if section.kind == "audio" and section.port != 0:
            audio_left = True
    if not audio_left:
        raise Incompatible(offered_names(offer))
    return out


def filter_section(section: Media, allowed: frozenset[Format]) -> None:
    """Keep allowed codecs; a section left without any real codec is rejected (port 0, formats kept)."""
    codecs = section.codecs()
    keep = [str(c.payload) for c in codecs if c.key in allowed]
    if not keep:
        section.port = 0
        return
    keep += [str(c.payload) for c in codecs if c.key[0] in DTMF_ENCODINGS]
    section.keep_formats(keep)


def offered_names(offer: SessionDescription) -> list[str]:
    return [
        describe(c)
        for s in offer.media
        if s.kind == "audio" and s.port
        for c in s.codecs()
        if c.key[0] not in DTMF_ENCODINGS
    ]


def describe(codec: Codec) -> str:
    return f"{codec.name}/{codec.rate}"


def rtpmaps(names: Iterable[str], kind: str = "audio") -> list[tuple[int, str]]:
    """(payload type, rtpmap text) for KAZOO names, in order, for building an offer: static numbers where
    RFC 3551 has one, dynamic ones from 96 otherwise."""
    table = AUDIO_CODECS if kind == "audio" else VIDEO_CODECS
    out, seen, dynamic = [], set(), FIRST_DYNAMIC_PAYLOAD
    for fmt in (fmt for name in names for fmt in table.get(name, ())):
        if fmt in seen:
            continue
        seen.add(fmt)
        payload = STATIC_PAYLOAD_TYPES.get(fmt)
        if payload is None:
            payload, dynamic = dynamic, dynamic + 1
        spelling, channels = SDP_ENCODINGS[fmt[0]]
        out.append((payload, f"{spelling}/{fmt[1]}" + (f"/{channels}" if channels > 1 else "")))
    return out


def kazoo_names(codec: Codec, kind: str = "audio") -> list[str]:
    """The KAZOO names that allow an SDP codec (e.g. for showing what a phone offered)."""
    table = AUDIO_CODECS if kind == "audio" else VIDEO_CODECS
    return [name for name, formats in table.items() if codec.key in formats]
