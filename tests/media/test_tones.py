"""G.711 coding, tone frames and tone detection."""

from __future__ import annotations

import math

import pytest

from cloudpbx.media import tones


def test_g711_reference_codes():
    assert tones.ulaw_encode(0) == 0xFF and tones.alaw_encode(0) == 0xD5  # the silence codes
    assert tones.ulaw_encode(32767) == 0x80 and tones.ulaw_encode(-32768) == 0x00
    assert tones.alaw_encode(32767) == 0xAA and tones.alaw_encode(-32768) == 0x2A
    assert tones.ulaw_decode(0x80) == 32124 and tones.ulaw_decode(0x00) == -32124
    assert tones.alaw_decode(0xAA) == 32256 and tones.alaw_decode(0x2A) == -32256


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_round_trip_stays_within_the_quantisation_step(codec):
    for sample in range(-32000, 32001, 37):
        back = tones.decode(tones.encode([sample], codec), codec)[0]
        assert abs(back - sample) <= max(16, abs(sample) // 16), (sample, back)


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_every_code_decodes_and_re_encodes_to_itself(codec):
    codes = bytes(range(256))
    if codec == "PCMU":
        codes = codes.replace(b"\x7f", b"")  # μ-law has two zeros, 0x7F and 0xFF; zero encodes as 0xFF
    assert tones.encode(tones.decode(codes, codec), codec) == codes


def test_tone_frames_are_20ms_and_phase_continuous():
    generator = tones.ToneGenerator(440, "PCMA")
    frames = [generator.frame() for _ in range(10)]
    assert {len(f) for f in frames} == {160}
    samples = tones.decode(b"".join(frames), "PCMA")
    expected = [round(0.5 * 32767 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(1600)]
    assert max(abs(s - e) for s, e in zip(samples, expected, strict=True)) < 600


@pytest.mark.parametrize("frequency", [350, 440, 1000, 2600])
def test_detects_the_tone_that_was_sent(frequency):
    generator = tones.ToneGenerator(frequency)
    frames = [generator.frame() for _ in range(10)]
    assert tones.detect_tone_in_frames(frames, [350, 440, 1000, 2600]) == frequency
    samples = tones.decode(b"".join(frames))
    assert tones.tone_share(samples, frequency) > 0.9
    assert tones.tone_share(samples, 1700) < 0.05


def test_silence_and_mixtures_are_not_a_tone():
    assert tones.detect_tone([0] * 800, [440]) is None
    silence = tones.encode([0] * 160, "PCMU")
    assert tones.detect_tone_in_frames([silence] * 5, [440, 1000]) is None
    mix = [
        round(8000 * (math.sin(2 * math.pi * 440 * n / 8000) + math.sin(2 * math.pi * 1000 * n / 8000)))
        for n in range(1600)
    ]
    assert tones.tone_share(mix, 440) == pytest.approx(0.5, abs=0.05)
    assert tones.detect_tone(mix, [440, 1000]) is None
    assert tones.detect_tone(mix, [440, 1000], threshold=0.4) in (440, 1000)


def test_only_g711_is_supported():
    with pytest.raises(ValueError):
        tones.ToneGenerator(440, "G729")
    with pytest.raises(ValueError):
        tones.decode(b"\x00", "opus")
