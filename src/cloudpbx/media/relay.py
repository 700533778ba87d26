"""The RTP/RTCP relay that anchors a call's media between its two legs.

Every media section of a call gets an even/odd port pair on each leg's side. A packet from phone A arrives on
A's side and leaves through B's side to phone B, and back. Each socket learns the real source of its phone
from the first packet (symmetric latching), so phones behind NAT get audio; until then it sends where the SDP
says. The per-packet path is one protocol method: no logging, no allocations beyond the datagram itself.

The B2BUA drives a call's `RelaySession` with the SDP bodies it passes on:

    session = relay.open(call_id)                                  # bypass=True: addresses pass unchanged
    to_b = await session.offer_for_b(sdp_from_a, a_codecs, b_codecs)   # may raise codecs.Incompatible (488)
    to_a = await session.answer_for_a(sdp_from_b)
    to_other = await session.update("a" or "b", offer)              # re-INVITE, hold/resume, late offer
    to_other = await session.answer("a" or "b", answer)             # its answer (a 2xx, an ACK)
    session.stats(); session.close()

Every answer goes on with exactly the m-lines of the offer it answers, in order (RFC 3264 §6): a section the
answerer dropped, or one the offer declined, is declined with port 0. A section declined by an answer holds no
ports: they are given back at once, and bound again if a later offer takes the section up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from cloudpbx.config import DEFAULT_RTP_PORTS
from cloudpbx.media.codecs import CodecPolicy, negotiate
from cloudpbx.media.sdp import HOLD_ADDRESSES, Media, SessionDescription, completed, conformed, is_ip_literal

log = logging.getLogger(__name__)
DEFAULT_INACTIVITY_S = 60.0
MAX_DROPOUT = 3000  # a forward sequence jump larger than this is a new stream, not loss (RFC 3550 A.1)
MAX_MISORDER = 100  # a packet at most this far behind is late or duplicated
RTP_MIN_SIZE = 12
RTCP_MIN_SIZE = 8
RELAYED_PROTOS = ("RTP/", "UDP/TLS/RTP/", "udptl")
LEGS = ("a", "b")
WILDCARDS = ("0.0.0.0", "::")


class NoPorts(Exception):
    """The RTP port range has no free pair left."""


class SessionClosed(RuntimeError):
    """The session closed (its leg ended) before or while SDP went through it: there is no media to set up."""


class PortPool:
    """Even ports of a range whose odd neighbour is in it too; released ports go to the back, so a port is
    reused as late as possible and stray packets of an old call do not reach a new one."""

    def __init__(self, low: int, high: int) -> None:
        self.free = deque(range(low + (low & 1), high, 2))

    def __len__(self) -> int:
        return len(self.free)

    def bind_pair(self, host: str, family: int) -> tuple[int, socket.socket, socket.socket]:
        """Take a free pair and bind both sockets; pairs taken by other programs are skipped."""
        for _ in range(len(self.free)):
            port = self.free.popleft()
            try:
                return port, bound_socket(host, port, family), bound_socket(host, port + 1, family)
            except OSError:
                self.free.append(port)
        raise NoPorts("no free RTP port pair")

    def release(self, port: int) -> None:
        self.free.append(port)


def bound_socket(host: str, port: int, family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class Endpoint(asyncio.DatagramProtocol):
    """One relay socket facing one phone: receives its packets, forwards them through the peer socket."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "dropped",
        "last_seq",
        "latched",
        "min_size",
        "packets_in",
        "packets_out",
        "peer",
        "receiving",
        "remote",
        "rtp_packets",
        "sdp_remote",
        "span",
        "strays",
        "target",
        "tracking",
        "transport",
    )

    def __init__(self, rtp: bool) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.peer: Endpoint = self
        self.sdp_remote: tuple[str, int] | None = None  # where the SDP says the phone receives
        self.remote: tuple[str, int] | None = None  # where it really is: the SDP address until latched
        self.target: tuple[str, int] | None = None  # where packets for the phone go now; None on hold
        self.latched = False
        self.receiving = False
        self.min_size = RTP_MIN_SIZE if rtp else RTCP_MIN_SIZE
        self.tracking = 1 if rtp else 0  # 0: RTCP socket, 1: waiting for the first RTP packet, 2: counting
        self.last_seq = 0
        self.span = 0  # sequence numbers the phone's packets have covered: what we expected to get
        self.rtp_packets = 0
        self.packets_in = self.bytes_in = self.packets_out = self.bytes_out = self.dropped = self.strays = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if (addr != self.remote or not self.latched) and not self.latch(addr):
            return
        size = len(data)
        if size < self.min_size:
            return  # NAT keep-alives open the path but carry nothing to forward
        self.packets_in += 1
        self.bytes_in += size
        if self.tracking and not 191 < data[1] < 224:
            seq = (data[2] << 8) | data[3]
            if self.tracking == 1:
                self.tracking, self.last_seq = 2, (seq - 1) & 0xFFFF
            delta = (seq - self.last_seq) & 0xFFFF
            if delta < MAX_DROPOUT:
                self.span += delta
                self.last_seq = seq
            elif delta < 0x10000 - MAX_MISORDER:
                self.span += 1
                self.last_seq = seq
            self.rtp_packets += 1
        peer = self.peer
        transport = peer.transport  # None only before the datagram endpoint is made, so never once paired
        if peer.target is None or transport is None:
            self.dropped += 1
            return
        transport.sendto(data, peer.target)
        peer.packets_out += 1
        peer.bytes_out += size

    def latch(self, addr) -> bool:
        """Follow the first source heard; later packets from anyone else are not forwarded."""
        if self.latched:
            self.strays += 1
            return False
        self.remote, self.latched = addr, True
        self.target = addr if self.receiving else None
        return True

    def point_to(self, address: tuple[str, int] | None, receiving: bool) -> None:
        """New SDP from the phone: a changed address undoes latching; `receiving` False holds its media."""
        if address is not None and address != self.sdp_remote:
            self.sdp_remote = self.remote = address
            self.latched = False
        self.receiving = receiving
        self.target = self.remote if receiving else None

    @property
    def lost(self) -> int:
        return max(0, self.span - self.rtp_packets)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@dataclass
class Side:
    """One leg's port pair of one media section."""

    port: int
    rtp: Endpoint
    rtcp: Endpoint

    @property
    def endpoints(self) -> tuple[Endpoint, Endpoint]:
        return self.rtp, self.rtcp


@dataclass
class Stream:
    """One media section of a call: its kind and each leg's side."""

    kind: str
    sides: dict[str, Side]

    def pair(self) -> None:
        """Each socket forwards through the same-kind socket of the other leg."""
        for first, second in zip(self.sides["a"].endpoints, self.sides["b"].endpoints, strict=True):
            first.peer, second.peer = second, first


AIM_FIELDS = ("sdp_remote", "remote", "target", "latched", "receiving")


@dataclass(frozen=True)
class PendingOffer:
    """What a session was before an offer went on, kept until it is answered so a refusal can undo it."""

    layout: list[Media]
    streams: list[Stream | None]
    aims: list[tuple[Endpoint, tuple]]  # the offering leg's sockets and their AIM_FIELDS

    @classmethod
    def of(cls, session: RelaySession, leg: str) -> PendingOffer:
        aims = [(ep, tuple(getattr(ep, name) for name in AIM_FIELDS)) for ep in session.endpoints(leg)]
        return cls(session.layout, list(session.streams), aims)


@dataclass(frozen=True)
class LegStats:
    """Counters of one leg, over all its media sections: `*_in` came from the phone, `*_out` went to it."""

    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    rtp_expected: int = 0
    rtp_lost: int = 0
    dropped: int = 0  # received but not forwarded: the other leg on hold or not yet known

    @property
    def loss(self) -> float:
        """Estimated share of the phone's RTP packets that never reached the relay."""
        return self.rtp_lost / self.rtp_expected if self.rtp_expected else 0.0


class RelaySession:
    """The media of one call (one A leg, one B leg). Use `MediaRelay.open`."""

    def __init__(
        self, relay: MediaRelay, call_id: str, bypass: bool, on_timeout: Callable[[RelaySession], None] | None
    ) -> None:
        self.relay = relay
        self.call_id = call_id
        self.bypass = bypass
        self.on_timeout = on_timeout
        self.codecs = (CodecPolicy(), CodecPolicy())  # (A leg's, B leg's); late offers are filtered with these
        self.streams: list[Stream | None] = []  # per m-line index; None for sections not relayed (declined)
        self.layout: list[Media] = []  # the m-lines of the last offer, which every answer keeps
        self.pending: PendingOffer | None = None  # the session before an offer not yet answered
        self.heard: set[str] = set()
        self.closed = False
        self.timed_out = False
        self.seen_packets = 0
        self.active_at = asyncio.get_running_loop().time()

    async def offer_for_b(
        self, sdp_from_a: bytes | str, a_codecs: CodecPolicy = CodecPolicy(), b_codecs: CodecPolicy = CodecPolicy()
    ) -> bytes:
        """The INVITE body for the B leg: codecs both legs allow, media anchored on the relay.
        Raises codecs.Incompatible when no audio codec is common (answer 488, INCOMPATIBLE_DESTINATION)."""
        self.codecs = (a_codecs, b_codecs)
        return await self.update("a", sdp_from_a)

    async def answer_for_a(self, sdp_from_b: bytes | str) -> bytes:
        """The body of the answer (183/200) for the A leg."""
        return await self.answer("b", sdp_from_b)

    async def update(self, leg: str, sdp: bytes | str) -> bytes:
        """An offer from leg "a" or "b" (first INVITE, re-INVITE, late offer in a 2xx) → the offer for the other
        leg. A section the leg now sends sendonly/inactive/0.0.0.0 gets no more packets until it takes them again."""
        return await self._relay(leg, sdp, answering=False)

    async def answer(self, leg: str, sdp: bytes | str) -> bytes:
        """Leg "a" or "b"'s answer to the last offer → the answer for the other leg, with the offer's m-lines."""
        return await self._relay(leg, sdp, answering=True)

    async def _relay(self, leg: str, sdp: bytes | str, answering: bool) -> bytes:
        if leg not in LEGS:
            raise ValueError(f"leg must be 'a' or 'b', not {leg!r}")
        if self.closed:
            raise SessionClosed(f"media session {self.call_id} is closed")
        parsed = SessionDescription.parse(sdp)
        shaped = conformed(parsed, self.layout) if answering and self.layout else completed(parsed, self.layout)
        filtered = negotiate(shaped, *self.codecs)
        if answering:
            self.pending = None
        else:
            self.pending = PendingOffer.of(self, leg)
            self.layout = filtered.media  # declined sections have port 0 here; relayed ones get our ports below
        if self.bypass:
            return bypassed(sdp, parsed, shaped, filtered)
        other = "b" if leg == "a" else "a"
        for index, section in enumerate(filtered.media):
            if section.port == 0 or not section.proto.startswith(RELAYED_PROTOS):
                filtered.media[index] = section.declined()
                if answering:
                    self.drop(index)
                else:  # until it is answered (a refused re-INVITE leaves the section as it was)
                    self.mute(index, leg)
                continue
            sides = (await self.stream(index, section.kind)).sides
            self.aim(sides[leg], filtered, section)
            section.port = sides[other].port
            section.remove_attributes("rtcp")
        filtered.set_address(self.relay.announce)
        filtered.remove_ice()
        self.heard.add(leg)
        return filtered.serialize()

    async def stream(self, index: int, kind: str) -> Stream:
        """Media section `index`, its port pairs bound on first use."""
        while len(self.streams) <= index:
            self.streams.append(None)
        stream = self.streams[index]
        if stream is None:
            a_side = await self.relay.bind_side()
            try:
                b_side = await self.relay.bind_side()
            except BaseException:
                self.relay.release(a_side)
                raise
            if self.closed:  # closed while binding: these ports would outlive it
                self.relay.release(a_side)
                self.relay.release(b_side)
                raise SessionClosed(f"media session {self.call_id} closed while binding its ports")
            stream = self.streams[index] = Stream(kind, {"a": a_side, "b": b_side})
            stream.pair()
        return stream

    def mute(self, index: int, leg: str) -> None:
        """A section the leg now offers to decline takes no more packets for it; its ports stay until answered."""
        stream = self.streams[index] if index < len(self.streams) else None
        if stream is not None:
            for endpoint in stream.sides[leg].endpoints:
                endpoint.point_to(None, False)

    def refused(self) -> None:
        """The other phone refused the last offer (a re-INVITE or UPDATE answered 4xx-6xx): both phones keep what
        they last agreed (RFC 3261 14.1), so the offering leg's sockets are aimed as before and sections the offer
        added give their ports back."""
        pending, self.pending = self.pending, None
        if pending is None or self.closed:
            return
        self.layout = pending.layout
        for index, stream in enumerate(self.streams):
            if stream is not None and (index >= len(pending.streams) or pending.streams[index] is not stream):
                self.drop(index)
        del self.streams[len(pending.streams) :]
        for endpoint, aim in pending.aims:
            for name, value in zip(AIM_FIELDS, aim, strict=True):
                setattr(endpoint, name, value)

    def drop(self, index: int) -> None:
        """A declined section: its ports go back to the pool (a later offer that takes it up binds new ones)."""
        stream = self.streams[index] if index < len(self.streams) else None
        if stream is not None:
            self.streams[index] = None
            for side in stream.sides.values():
                self.relay.release(side)

    def aim(self, side: Side, sdp: SessionDescription, section: Media) -> None:
        """Point one leg's sockets at the addresses its SDP gives (IP literals of our family only)."""
        address = sdp.media_address(section)
        receiving = sdp.receives(section)
        if not (
            is_ip_literal(address)
            and address not in HOLD_ADDRESSES
            and ipaddress.ip_address(address).version == self.relay.ip_version
        ):
            address = None
        side.rtp.point_to((address, section.port) if address else None, receiving)
        side.rtcp.point_to((address, section.rtcp_port) if address else None, receiving)

    def adopt(self, leg: str, other: RelaySession, other_leg: str) -> None:
        """Take `other`'s sockets facing `other_leg` in place of this session's `leg` ones, then close `other` (a
        transfer): the phone behind them now talks to the phone on this session's far side, and neither phone's
        ports change. ValueError, with nothing changed, when the sessions' media sections differ."""
        if self.closed or other.closed or self.bypass or other.bypass:
            raise ValueError("only open, relayed sessions swap sockets")
        kinds = [stream.kind if stream else None for stream in self.streams]
        if kinds != [stream.kind if stream else None for stream in other.streams]:
            raise ValueError(f"media sections differ: {kinds}")
        for mine, theirs in zip(self.streams, other.streams, strict=True):
            if mine is not None and theirs is not None:
                self.relay.release(mine.sides[leg])
                mine.sides[leg] = theirs.sides.pop(other_leg)
                mine.pair()
        codecs = dict(zip(LEGS, self.codecs, strict=True))
        codecs[leg] = other.codecs[LEGS.index(other_leg)]
        self.codecs = (codecs["a"], codecs["b"])
        other.close()

    def endpoints(self, leg: str) -> list[Endpoint]:
        return [ep for stream in self.streams if stream for ep in stream.sides[leg].endpoints]

    def stats(self) -> dict[str, LegStats]:
        """Counters per leg ("a", "b")."""
        return {leg: leg_stats(self.endpoints(leg)) for leg in LEGS}

    def on_hold(self) -> bool:
        """Whether a leg is not taking audio now (hold); a rejected video section is not hold."""
        return any(
            not stream.sides[leg].rtp.receiving
            for stream in self.streams
            if stream and stream.kind == "audio"
            for leg in LEGS
        )

    def idle_for(self, now: float) -> float:
        """Seconds without a packet from either phone while both have described their media and neither
        holds; 0 otherwise. Called by the relay's sweeper only, so the packet path keeps no clock."""
        total = sum(ep.packets_in for leg in LEGS for ep in self.endpoints(leg))
        if total != self.seen_packets or self.heard != set(LEGS) or self.on_hold():
            self.seen_packets, self.active_at = total, now
        return now - self.active_at

    def close(self) -> None:
        """Stop relaying and give the ports back. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        self.on_timeout = None  # the callback holds the call: let it go
        for stream in self.streams:
            for side in stream.sides.values() if stream else ():
                self.relay.release(side)
        self.streams = []
        self.relay.forget(self)


def bypassed(
    raw: bytes | str, parsed: SessionDescription, shaped: SessionDescription, filtered: SessionDescription
) -> bytes:
    """A body of a bypassed call: as the phone sent it, unless sections must be declined (no common codec) or
    restored (an answer without the offer's m-lines); codecs are not narrowed, addresses not touched."""
    declined = [i for i, section in enumerate(filtered.media) if section.port == 0 and shaped.media[i].port != 0]
    if shaped is parsed and not declined:
        return raw.encode() if isinstance(raw, str) else bytes(raw)
    out = shaped.copy()
    for index in declined:
        out.media[index] = out.media[index].declined()
    return out.serialize()


def leg_stats(endpoints: list[Endpoint]) -> LegStats:
    return LegStats(
        packets_in=sum(ep.packets_in for ep in endpoints),
        bytes_in=sum(ep.bytes_in for ep in endpoints),
        packets_out=sum(ep.packets_out for ep in endpoints),
        bytes_out=sum(ep.bytes_out for ep in endpoints),
        rtp_expected=sum(ep.span for ep in endpoints),
        rtp_lost=sum(ep.lost for ep in endpoints),
        dropped=sum(ep.dropped for ep in endpoints),
    )


class MediaRelay:
    """All relayed calls of one node: the port pool, the sessions by call id, the inactivity sweeper."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        ports: tuple[int, int] = DEFAULT_RTP_PORTS,
        *,
        announce: str | None = None,
        inactivity_timeout: float | None = DEFAULT_INACTIVITY_S,
        sweep_interval: float = 5.0,
    ) -> None:
        """`host`: where sockets bind (the SIP listen address); `announce`: the address put in SDP, needed
        when `host` is a wildcard. `inactivity_timeout` None never times a call out."""
        if announce is None and host in WILDCARDS:
            raise ValueError("binding RTP to a wildcard address needs an address to announce in SDP")
        self.host = host
        self.announce = announce or host
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.ip_version = 6 if self.family == socket.AF_INET6 else 4  # phones we can send to
        self.pool = PortPool(*ports)
        self.sessions: dict[str, RelaySession] = {}
        self.inactivity_timeout = inactivity_timeout
        self.sweep_interval = sweep_interval
        self.sweeper: asyncio.Task | None = None

    def open(
        self, call_id: str, *, bypass: bool = False, on_timeout: Callable[[RelaySession], None] | None = None
    ) -> RelaySession:
        """A new session for a call. `bypass`: media flows phone to phone and SDP passes unchanged (codecs
        are still checked). `on_timeout(session)` is called when the call's media has been idle for the
        inactivity timeout; without it the session is closed."""
        if call_id in self.sessions:
            raise ValueError(f"media session {call_id} already open")
        session = self.sessions[call_id] = RelaySession(self, call_id, bypass, on_timeout)
        if self.inactivity_timeout is not None and self.sweeper is None:
            self.sweeper = asyncio.get_running_loop().create_task(self.sweep(self.inactivity_timeout))
        return session

    def get(self, call_id: str) -> RelaySession | None:
        return self.sessions.get(call_id)

    async def bind_side(self) -> Side:
        port, rtp_sock, rtcp_sock = self.pool.bind_pair(self.host, self.family)
        loop = asyncio.get_running_loop()
        rtp, rtcp = Endpoint(rtp=True), Endpoint(rtp=False)
        try:
            await loop.create_datagram_endpoint(lambda: rtp, sock=rtp_sock)
            await loop.create_datagram_endpoint(lambda: rtcp, sock=rtcp_sock)
        except BaseException:
            for endpoint, sock in ((rtp, rtp_sock), (rtcp, rtcp_sock)):
                if endpoint.transport:
                    endpoint.close()
                else:
                    sock.close()
            self.pool.release(port)
            raise
        return Side(port, rtp, rtcp)

    def release(self, side: Side) -> None:
        side.rtp.close()
        side.rtcp.close()
        self.pool.release(side.port)

    def forget(self, session: RelaySession) -> None:
        if self.sessions.get(session.call_id) is session:
            del self.sessions[session.call_id]

    async def sweep(self, inactivity: float) -> None:
        """Every sweep interval, time out sessions whose media stopped for `inactivity` seconds."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.sweep_interval)
            now = loop.time()
            for session in list(self.sessions.values()):
                if not session.timed_out and session.idle_for(now) >= inactivity:
                    session.timed_out = True
                    try:
                        (session.on_timeout or RelaySession.close)(session)
                    except Exception:  # the owner's bug must not stop timing out other calls
                        log.exception("media timeout handler failed for %s", session.call_id)

    async def close(self) -> None:
        """Close every session and stop the sweeper."""
        for session in list(self.sessions.values()):
            session.close()
        if self.sweeper is not None:
            self.sweeper.cancel()
            await asyncio.gather(self.sweeper, return_exceptions=True)
            self.sweeper = None
