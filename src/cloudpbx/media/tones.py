"""Sine tones as G.711 frames, and finding a tone in received audio (Goertzel).

G.711 μ-law and A-law are written out here (the stdlib's audioop is deprecated). Samples are signed 16-bit ints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

RATE = 8000
FRAME_MS = 20
ULAW_BIAS = 0x84
ULAW_CLIP = 32635
ALAW_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def ulaw_encode(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sign else sample, ULAW_CLIP) + ULAW_BIAS
    exponent = (magnitude >> 7).bit_length() - 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_decode(code: int) -> int:
    code = ~code & 0xFF
    exponent, mantissa = (code >> 4) & 0x07, code & 0x0F
    magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS
    return -magnitude if code & 0x80 else magnitude


def alaw_encode(sample: int) -> int:
    value = sample >> 3  # A-law works on 13 bits
    if value >= 0:
        mask = 0xD5
    else:
        mask, value = 0x55, -value - 1
    segment = next((i for i, end in enumerate(ALAW_SEGMENT_ENDS) if value <= end), 8)
    if segment == 8:
        return 0x7F ^ mask
    step = 1 if segment < 2 else segment
    return ((segment << 4) | ((value >> step) & 0x0F)) ^ mask


def alaw_decode(code: int) -> int:
    code ^= 0x55
    value = (code & 0x0F) << 4
    segment = (code & 0x70) >> 4
    if segment == 0:
        value += 8
    else:
        value = (value + 0x108) << (segment - 1)
    return value if code & 0x80 else -value


ULAW_TABLE = tuple(ulaw_decode(code) for code in range(256))
ALAW_TABLE = tuple(alaw_decode(code) for code in range(256))
ENCODERS = {"PCMU": ulaw_encode, "PCMA": alaw_encode}
DECODE_TABLES = {"PCMU": ULAW_TABLE, "PCMA": ALAW_TABLE}


def codec_table(codec: str, table: dict):
    try:
        return table[codec.upper()]
    except KeyError:
        raise ValueError(f"codec must be PCMU or PCMA, not {codec!r}") from None


def encode(samples: Iterable[int], codec: str = "PCMU") -> bytes:
    encoder = codec_table(codec, ENCODERS)
    return bytes(encoder(s) for s in samples)


def decode(payload: bytes, codec: str = "PCMU") -> list[int]:
    table = codec_table(codec, DECODE_TABLES)
    return [table[b] for b in payload]


class ToneGenerator:
    """Consecutive G.711 frames of one sine tone, phase-continuous across frames."""

    def __init__(self, frequency: float, codec: str = "PCMU", amplitude: float = 0.5, frame_ms: int = FRAME_MS) -> None:
        self.encoder = codec_table(codec, ENCODERS)
        self.step = 2 * math.pi * frequency / RATE
        self.peak = amplitude * 32767
        self.samples_per_frame = RATE * frame_ms // 1000
        self.position = 0

    def frame(self) -> bytes:
        start = self.position
        self.position += self.samples_per_frame
        return bytes(self.encoder(round(self.peak * math.sin(self.step * n))) for n in range(start, self.position))


def goertzel_power(samples: Sequence[int], frequency: float) -> float:
    """|X(f)|² of the samples at one frequency."""
    coeff = 2 * math.cos(2 * math.pi * frequency / RATE)
    prev = prev2 = 0.0
    for sample in samples:
        prev, prev2 = sample + coeff * prev - prev2, prev
    return prev * prev + prev2 * prev2 - coeff * prev * prev2


def tone_share(samples: Sequence[int], frequency: float) -> float:
    """The share of the signal's energy at `frequency`: about 1 for a pure tone there, about 0 elsewhere."""
    energy = sum(s * s for s in samples)
    if not energy:
        return 0.0
    return 2 * goertzel_power(samples, frequency) / (len(samples) * energy)


def detect_tone(samples: Sequence[int], candidates: Iterable[float], threshold: float = 0.6) -> float | None:
    """The candidate frequency holding most of the signal's energy, if it holds at least `threshold` of it."""
    shares = {frequency: tone_share(samples, frequency) for frequency in candidates}
    best = max(shares, key=shares.__getitem__, default=None)
    return best if best is not None and shares[best] >= threshold else None


def detect_tone_in_frames(
    payloads: Iterable[bytes], candidates: Iterable[float], codec: str = "PCMU", threshold: float = 0.6
) -> float | None:
    """detect_tone over received G.711 payloads, decoded and joined."""
    samples = [s for payload in payloads for s in decode(payload, codec)]
    return detect_tone(samples, list(candidates), threshold)
