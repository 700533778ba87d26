"""RTP header parsing and building."""

from __future__ import annotations

import struct

import pytest

from cloudpbx.media import rtp


def test_build_then_parse():
    packet = rtp.build(0, 65535, 2**32 + 5, 0xDEADBEEF, b"\xff" * 160, marker=True)
    header = rtp.RtpHeader.parse(packet)
    assert (header.payload_type, header.sequence, header.timestamp, header.ssrc, header.marker) == (
        0,
        65535,
        5,
        0xDEADBEEF,
        True,
    )
    assert header.payload(packet) == b"\xff" * 160
    assert not rtp.is_rtcp(packet)


def test_csrcs_extension_and_padding():
    first = 0x80 | 0x20 | 0x10 | 2  # padding, extension, two CSRCs
    packet = (
        struct.pack("!BBHII", first, 96, 7, 1000, 42)
        + struct.pack("!II", 1, 2)
        + struct.pack("!HH", 0xBEDE, 1)
        + b"\x10\xaa\x00\x00"
        + b"payload"
        + b"\x00\x00\x03"
    )
    header = rtp.RtpHeader.parse(packet)
    assert header.csrcs == (1, 2)
    assert header.extension == struct.pack("!HH", 0xBEDE, 1) + b"\x10\xaa\x00\x00"
    assert header.padding == 3
    assert header.payload(packet) == b"payload"


@pytest.mark.parametrize(
    "packet",
    [
        b"\x80\x00\x00",  # too short
        b"\x40" + bytes(11),  # version 1
        b"\x83" + bytes(11),  # three CSRCs announced, none there
        b"\x90" + bytes(11) + b"\xbe\xde",  # extension header cut off
        b"\xa0" + bytes(11) + b"\x09",  # padding longer than the packet
    ],
)
def test_malformed_packets_raise(packet):
    with pytest.raises(rtp.RtpError):
        rtp.RtpHeader.parse(packet)


def test_rtcp_is_told_from_rtp():
    assert rtp.is_rtcp(bytes([0x80, 200, 0, 6]))  # sender report
    assert rtp.is_rtcp(bytes([0x81, 201, 0, 7]))  # receiver report
    assert not rtp.is_rtcp(bytes([0x80, 0x80 | 0]))  # PCMU with the marker bit
    assert not rtp.is_rtcp(bytes([0x80, 101]))
    assert not rtp.is_rtcp(b"\x80")
