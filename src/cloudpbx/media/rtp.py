"""RTP packets (RFC 3550): header parsing and building, RTCP demultiplexing (RFC 5761)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = struct.Struct("!BBHII")
HEADER_SIZE = HEADER.size  # 12
VERSION_BITS = 0x80


class RtpError(ValueError):
    """Not a well-formed RTP packet."""


@dataclass(frozen=True)
class RtpHeader:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: bytes | None = None  # the header extension's profile word and data, as sent
    payload_offset: int = HEADER_SIZE
    padding: int = 0  # bytes of padding at the end of the packet

    @classmethod
    def parse(cls, packet: bytes) -> RtpHeader:
        if len(packet) < HEADER_SIZE:
            raise RtpError("shorter than an RTP header")
        first, second, sequence, timestamp, ssrc = HEADER.unpack_from(packet)
        if first & 0xC0 != VERSION_BITS:
            raise RtpError("not RTP version 2")
        offset = HEADER_SIZE + 4 * (first & 0x0F)
        if len(packet) < offset:
            raise RtpError("truncated CSRC list")
        csrcs = struct.unpack_from(f"!{first & 0x0F}I", packet, HEADER_SIZE)
        extension = None
        if first & 0x10:
            if len(packet) < offset + 4:
                raise RtpError("truncated header extension")
            words = struct.unpack_from("!H", packet, offset + 2)[0]
            end = offset + 4 + 4 * words
            extension, offset = packet[offset:end], end
        padding = packet[-1] if first & 0x20 else 0
        if offset + padding > len(packet):
            raise RtpError("padding or extension beyond the packet")
        return cls(second & 0x7F, sequence, timestamp, ssrc, bool(second & 0x80), csrcs, extension, offset, padding)

    def payload(self, packet: bytes) -> bytes:
        return packet[self.payload_offset : len(packet) - self.padding]


def build(payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    """A plain RTP packet (no CSRC, extension or padding)."""
    second = (0x80 if marker else 0) | payload_type
    return HEADER.pack(VERSION_BITS, second, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + payload


def is_rtcp(packet: bytes) -> bool:
    """RFC 5761: on a multiplexed port, RTCP packet types 192..223 tell RTCP from RTP."""
    return len(packet) >= 2 and 191 < packet[1] < 224
