"""SIP transports: UDP datagrams and TCP streams framed by Content-Length, with connection reuse.

A transport hands every complete message to `deliver(data, peer)` and sends bytes to a `Peer` without waiting:
TCP opens a connection in the background when none exists, queueing what is sent meanwhile, and reports a failure
through `failed(peer)`. Stream transports share `StreamTransport`; TLS is the same with an SSL context, and a
WebSocket transport only needs its own framing in place of `Connection.data_received`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl as ssl_module
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from cloudpbx.sip.message import header_end

log = logging.getLogger(__name__)

RECEIVE_BUFFER = 4 * 1024 * 1024  # the kernel caps it at net.core.rmem_max
MAX_HEADER_BYTES = 65536
MAX_BODY_BYTES = 1_000_000
SO_MEMINFO = 55  # linux/socket.h
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\S*)", re.I | re.M)


class Peer(NamedTuple):
    """The far end of a message: transport name (lower case, as in `;transport=`), host and port."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@runtime_checkable
class Stream(Protocol):
    """What a connection uses of its transport: asyncio's, or uvloop's (which is no `asyncio.Transport`)."""

    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def get_write_buffer_size(self) -> int: ...


Deliver = Callable[[bytes, Peer], None]
Failed = Callable[[Peer], None]


class Transport:
    """One listening socket (or server) of a kind: what the core needs to receive and send."""

    name = ""  # as written in Via: UDP, TCP, TLS, WS
    reliable = False

    def __init__(self, host: str, port: int, deliver: Deliver, failed: Failed):
        self.host, self.port = host, port
        self.deliver, self.failed = deliver, failed

    @property
    def key(self) -> str:
        return self.name.lower()

    async def start(self) -> None:
        raise NotImplementedError

    def send(self, data: bytes, peer: Peer) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class UdpTransport(Transport, asyncio.DatagramProtocol):
    name = "UDP"

    def __init__(self, host: str, port: int, deliver: Deliver, failed: Failed):
        super().__init__(host, port, deliver, failed)
        self._socket: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._socket, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, self.port))
        self.port = self._socket.get_extra_info("sockname")[1]
        sock = self._socket.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)  # bursts of REGISTERs queue up
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, RECEIVE_BUFFER)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if len(data) > 4 and not data.isspace():  # CRLF keep-alives carry nothing
            self.deliver(data, Peer("udp", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)

    def queued_bytes(self) -> int:
        """Memory the datagrams not read yet take in the kernel's receive buffer (Linux SO_MEMINFO; else 0)."""
        if self._socket is None:
            return 0
        try:
            info = self._socket.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 36)
        except OSError:
            return 0
        return struct.unpack_from("I", info)[0]  # SK_MEMINFO_RMEM_ALLOC

    def send(self, data: bytes, peer: Peer) -> None:
        if self._socket is not None:
            self._socket.sendto(data, (peer.host, peer.port))

    async def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class Admission(Protocol):
    """Who may hold an inbound stream connection: the caps live with whoever runs the stack (the platform passes
    the guard it shares with its HTTP server), so the stack itself counts nothing."""

    def admit(self, conn: Connection, address: str) -> bool:
        """Count `conn` in (it may shed an older one through `conn.shed()`); False refuses it."""

    def release(self, conn: Connection) -> None:
        """`conn` closed; safe to call twice."""

    def busy(self, conn: Connection) -> None:
        """`conn` delivered a message: it is not to be shed."""


class Unlimited:
    """Admission for a stack run without caps: every connection is let in."""

    def admit(self, conn: Connection, address: str) -> bool:
        return True

    def release(self, conn: Connection) -> None:
        pass

    def busy(self, conn: Connection) -> None:
        pass


@dataclass(frozen=True)
class StreamLimits:
    """What one stream listener allows its clients; how many connections, `admission` decides."""

    message_timeout_s: float = 10.0  # a message begun, or a new inbound connection's first one, must complete in this
    idle_s: float = 4000.0  # no traffic either way for this long closes the connection
    max_write_buffer: int = 1_000_000  # bytes queued to a peer that does not read: beyond this it is dropped


class Connection(asyncio.Protocol):
    """One stream connection: frames messages by Content-Length and writes what the core sends.

    An inbound connection is admitted by the transport's `Admission` and stays sheddable until it delivers a
    complete message. One timer per connection enforces the deadlines: a message begun (and a new inbound
    connection's first message) must complete within `message_timeout_s`, and a connection idle for `idle_s` closes.
    """

    def __init__(self, owner: StreamTransport, peer: Peer | None = None):
        self.owner = owner
        self.peer = peer  # an inbound connection learns it when made
        self.buffer = bytearray()
        self.stream: Stream | None = None
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.last_used = time.monotonic()
        self.message_since: float | None = None  # when the message (or inbound connection) now awaited began
        self.timer: asyncio.TimerHandle | None = None
        self.timer_due = 0.0  # time.monotonic() at which `timer` fires

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, Stream)  # a stream server's or connection's transport always is one
        peer = self.peer
        if peer is None:  # inbound: the far end is known now
            host, port = transport.get_extra_info("peername")[:2]
            peer = self.peer = Peer(self.owner.key, host, port)
            if not self.owner.guard.admit(self, host):
                log.info("SIP %s connection from %s refused: connection limit", self.owner.name, peer)
                transport.close()
                return
            self.message_since = time.monotonic()
        self.stream = transport
        self.owner.connections[(peer.host, peer.port)] = self
        for data in self.pending:
            transport.write(data)
        self.pending.clear()
        self.pending_bytes = 0
        self._schedule()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.owner.guard.release(self)
        if self.peer and self.owner.connections.get((self.peer.host, self.peer.port)) is self:
            del self.owner.connections[(self.peer.host, self.peer.port)]
        self.stream = None

    def shed(self) -> None:
        """Dropped to admit a newer connection at the transport's cap."""
        if self.stream is not None:
            self.stream.abort()

    def write(self, data: bytes) -> None:
        self.last_used = time.monotonic()
        limit = self.owner.limits.max_write_buffer
        if self.stream is None:
            if self.pending_bytes + len(data) <= limit:
                self.pending.append(data)
                self.pending_bytes += len(data)
        elif self.stream.get_write_buffer_size() > limit:
            log.info("SIP %s connection to %s dropped: the peer does not read", self.owner.name, self.peer)
            self.stream.abort()
        else:
            self.stream.write(data)

    def data_received(self, data: bytes) -> None:
        self.last_used = time.monotonic()
        self.buffer += data
        while self.stream is not None and self.peer is not None and self._next_message(self.stream, self.peer):
            pass
        if self.buffer and self.message_since is None:
            self.message_since = self.last_used
            self._schedule()

    def _schedule(self) -> None:
        """Arm the timer for the nearest deadline (replacing one armed for later)."""
        limits = self.owner.limits
        due = self.last_used + limits.idle_s
        if self.message_since is not None:
            due = min(due, self.message_since + limits.message_timeout_s)
        if self.timer is not None:
            if self.timer_due <= due:
                return
            self.timer.cancel()
        self.timer_due = due
        self.timer = asyncio.get_running_loop().call_later(max(0.0, due - time.monotonic()), self._expire)

    def _expire(self) -> None:
        self.timer = None
        if self.stream is None:
            return
        now, limits = time.monotonic(), self.owner.limits
        if self.message_since is not None and now >= self.message_since + limits.message_timeout_s:
            log.info(
                "SIP %s connection %s dropped: no complete message in %gs",
                self.owner.name,
                self.peer,
                limits.message_timeout_s,
            )
            self.stream.abort()  # aborted, not closed: what a peer does not read must not keep the socket
        elif now >= self.last_used + limits.idle_s:
            self.stream.abort()
        else:
            self._schedule()

    def _next_message(self, stream: Stream, peer: Peer) -> bool:
        """Deliver the first complete message in the buffer; False when more bytes are needed."""
        buf = self.buffer
        if buf[:2] == b"\r\n":
            if buf[:4] == b"\r\n\r\n":  # RFC 5626 ping: answer with a pong
                stream.write(b"\r\n")
                del buf[:4]
            else:
                del buf[:2]
            return bool(buf)
        end, body_start = header_end(buf)  # CRLF CRLF, or a bare LF blank line (RFC 3261 7.5)
        if end < 0:
            if len(buf) > MAX_HEADER_BYTES:
                stream.close()
            return False
        match = _CONTENT_LENGTH.search(buf, 0, end + 1)
        length = match.group(1) if match else b"0"
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self._deliver(bytes(buf[:body_start]), peer)  # the core answers 400; the stream cannot be framed further
            stream.close()
            return False
        total = body_start + int(length)
        if len(buf) < total:
            return False
        data = bytes(buf[:total])
        del buf[:total]
        self.message_since = None
        self.owner.guard.busy(self)  # a peer that speaks SIP is not shed for newcomers
        self._deliver(data, peer)
        return True

    def _deliver(self, data: bytes, peer: Peer) -> None:
        try:
            self.owner.deliver(data, peer)
        except Exception:
            log.exception("SIP message handling failed")


class StreamTransport(Transport):
    """A stream server plus the connections it holds, in and out, keyed by the far end's (host, port)."""

    reliable = True

    def __init__(
        self,
        host: str,
        port: int,
        deliver: Deliver,
        failed: Failed,
        *,
        ssl: ssl_module.SSLContext | None = None,
        limits: StreamLimits | None = None,
        admission: Admission | None = None,
    ):
        super().__init__(host, port, deliver, failed)
        self.ssl = ssl
        self.limits = limits or StreamLimits()
        self.guard = Unlimited() if admission is None else admission  # a guard counting none is falsy
        self.connections: dict[tuple[str, int], Connection] = {}
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Connection(self), self.host, self.port, ssl=self.ssl, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def send(self, data: bytes, peer: Peer) -> None:
        conn = self.connections.get((peer.host, peer.port))
        if conn is None:
            conn = Connection(self, peer)
            self.connections[(peer.host, peer.port)] = conn
            asyncio.get_running_loop().create_task(self._connect(conn, peer))
        conn.write(data)

    async def _connect(self, conn: Connection, peer: Peer) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: conn, peer.host, peer.port, ssl=self.ssl)
        except OSError as exc:
            log.debug("cannot connect to %s: %s", peer, exc)
            if self.connections.get((peer.host, peer.port)) is conn:
                del self.connections[(peer.host, peer.port)]
            self.failed(peer)

    async def close(self) -> None:
        for conn in list(self.connections.values()):
            if conn.stream:
                conn.stream.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


class TcpTransport(StreamTransport):
    name = "TCP"
