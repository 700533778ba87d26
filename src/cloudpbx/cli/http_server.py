"""The API's HTTP server: uvicorn on a socket bound beforehand, its httptools protocol given the limits a public
server needs against slow clients.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but waits forever for a request's header, and
counts connections only to answer 503 once they are open. `GuardedHttpProtocol` adds, per connection:
- a header deadline: from the moment a connection opens or a request's first byte (or any byte while idle) arrives,
  the whole header must be in within `http_header_timeout_s`, else 408 (when part of a request came) and close;
- admission through a `ConnectionGuard`: at most `http_max_per_address` connections per client address (the extra
  one gets 503 and is closed), and at most `http_max_connections` in all, where a new connection sheds the one that
  has waited longest with no request in progress.
Subclassing keeps uvicorn's parsing, flow control and ASGI cycle untouched; the hooks are its parser callbacks.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cloudpbx.config import Settings
from cloudpbx.connections import ConnectionGuard

BACKLOG = 2048


def plain_response(status: str, message: str, extra: str = "") -> bytes:
    """A complete `Connection: close` response with an error body shaped like Crossbar's envelope."""
    code = status.split()[0]
    body = orjson.dumps({"data": {"message": message}, "error": code, "message": message, "status": "error"})
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n{extra}"
        "connection: close\r\n\r\n"
    ).encode() + body


TOO_MANY = plain_response("503 Service Unavailable", "too many connections from this address", "retry-after: 5\r\n")
TIMED_OUT = plain_response("408 Request Timeout", "request header not received in time")


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and admission by a `ConnectionGuard`."""

    def __init__(self, *args: Any, guard: ConnectionGuard, header_timeout_s: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.header_timeout_s = header_timeout_s
        self.header_timer: asyncio.TimerHandle | None = None
        self.in_header = False  # part of a request's header has arrived

    # asyncio declares a BaseTransport; a TCP server's is a Transport, and uvicorn's own override says so the same way
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self, self.client[0] if self.client else ""):
            transport.write(TOO_MANY)
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.release(self)
        super().connection_lost(exc)

    def shed(self) -> None:
        self._disarm()
        self.transport.abort()  # frees the socket at once, even with a response the client has not read

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.header_timer is None and self._idle() and not self.transport.is_closing():
            self._arm()  # bytes that start no request (stray line ends) must not keep the connection either

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_header = True
        if self.header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self.in_header = False
        self.guard.busy(self)
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._idle():
            self.guard.waiting(self)

    def _idle(self) -> bool:
        return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    def _arm(self) -> None:
        self.header_timer = self.loop.call_later(self.header_timeout_s, self._header_timed_out)

    def _disarm(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timed_out(self) -> None:
        self.header_timer = None
        if self.transport.is_closing():
            return
        if self.in_header:
            self.transport.write(TIMED_OUT)
        self.transport.close()


def bind(host: str, port: int) -> socket.socket:
    """The API's listening socket, bound now so that a taken port fails before anything is created."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise cannot_listen("the API", host, port, exc) from None
    return sock


def cannot_listen(what: str, host: str, port: int, exc: OSError) -> OSError:
    """One line that says which port could not be had and why (uvloop keeps the system's reason in the cause)."""
    cause = exc if exc.errno else exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    reason = cause.strerror if cause.errno else str(cause)
    return OSError(f"cannot listen for {what} on {host}:{port}: {reason}")


def _bound(guard: ConnectionGuard, header_timeout_s: float) -> type[GuardedHttpProtocol]:
    """The protocol class with this server's guard and deadline: uvicorn builds each connection from a class."""

    class Bound(GuardedHttpProtocol):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, guard=guard, header_timeout_s=header_timeout_s, **kwargs)

    return Bound


def server(app: Any, settings: Settings, max_connections: int) -> uvicorn.Server:
    """A uvicorn server for `app` whose connections are guarded as `settings` say."""
    guard = ConnectionGuard(max_connections, settings.http_max_per_address)
    config = uvicorn.Config(
        app,
        loop="none",
        http=_bound(guard, settings.http_header_timeout_s),
        log_level="warning",
        access_log=False,
        # uvicorn declares an int but only hands it to loop.call_later, which takes the float our setting is
        timeout_keep_alive=settings.http_keepalive_s,  # type: ignore[arg-type]
        backlog=BACKLOG,
    )
    return uvicorn.Server(config)
