"""The RTP side of the media benchmarks (bench/media.py, bench/sip.py): fake phones that play PCMU and time it.

Each phone sends one 172-byte packet every 20 ms, the phones in ten staggered groups 2 ms apart, as real phones
do not tick together. The first 8 payload bytes carry the send time, so the receiving phone measures transit.
"""

from __future__ import annotations

import asyncio
import struct
import time

HOST = "127.0.0.1"
PTIME_S = 0.020
PAYLOAD_BYTES = 160
SEND_GROUPS = 10
DRAIN_S = 0.5  # after the last packet, how long late ones may still arrive
STAMP = struct.Struct("!BBHIIq")  # RTP header, then the send time (ns) at the start of the payload


class Phone(asyncio.DatagramProtocol):
    """One phone's RTP socket: counts and times the packets it receives."""

    __slots__ = ("delays", "received", "transport")

    def __init__(self, delays: list[int]) -> None:
        self.transport = None
        self.received = 0
        self.delays = delays

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.received += 1
        if len(data) >= STAMP.size:
            self.delays.append(time.monotonic_ns() - STAMP.unpack_from(data)[5])


async def bind(count: int, delays: list[int]) -> list[Phone]:
    """`count` phones on free loopback ports, sharing one list of transit times."""
    loop = asyncio.get_running_loop()
    return [(await loop.create_datagram_endpoint(lambda: Phone(delays), local_addr=(HOST, 0)))[1] for _ in range(count)]


def phone_port(phone: Phone) -> int:
    return phone.transport.get_extra_info("sockname")[1]


async def play(senders: list[tuple[Phone, int]], phones: list[Phone], seconds: float, delays: list[int]) -> dict:
    """Each (phone, relay port) of `senders` plays for `seconds`; then count what all `phones` received."""
    loop = asyncio.get_running_loop()
    payload = bytes(PAYLOAD_BYTES - 8)
    for phone in phones:
        phone.received = 0
    delays.clear()
    groups = [
        [(index, phone.transport, (HOST, relay)) for index, (phone, relay) in enumerate(senders)][g::SEND_GROUPS]
        for g in range(SEND_GROUPS)
    ]
    ticks = int(seconds / PTIME_S) * SEND_GROUPS
    start, sent = loop.time() + 0.05, 0
    cpu_before = time.process_time()
    for tick in range(ticks):
        delay = start + tick * PTIME_S / SEND_GROUPS - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        seq = tick // SEND_GROUPS
        now = time.monotonic_ns()
        group = groups[tick % SEND_GROUPS]
        for index, transport, address in group:
            transport.sendto(STAMP.pack(0x80, 0, seq & 0xFFFF, seq * 160, index, now) + payload, address)
        sent += len(group)
    duration = loop.time() - start + PTIME_S / SEND_GROUPS
    await asyncio.sleep(DRAIN_S)
    ordered = sorted(delays)
    return {
        "sent": sent,
        "received": sum(phone.received for phone in phones),
        "duration": duration,
        "cpu_s": time.process_time() - cpu_before,
        "delay_p50_ms": ordered[len(ordered) // 2] / 1e6 if ordered else None,
        "delay_p99_ms": ordered[int(len(ordered) * 0.99)] / 1e6 if ordered else None,
    }
