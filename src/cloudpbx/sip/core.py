"""The SIP endpoint: transports in, transactions matched, bad requests answered, good ones handed to handlers.

What the core answers by itself (RFC 3261 8.2, 16.3, 17.2.3): bytes that are no SIP message are dropped; a
malformed request (headers that never end included) gets 400 when it names where the answer goes (a Via), 505
for another SIP version; loops get 482, Max-Forwards 0 gets 483 (OPTIONS and REGISTER end here and are served),
in-dialog requests (a To tag) of a known method for no known dialog 481, unknown methods 501, known methods
without a handler 405, other URI schemes 416, unsupported Require 420, bodies a handler cannot take 415, Accept it
cannot satisfy 406; out-of-order in-dialog requests 500; OPTIONS 200; CANCEL 200 and 487 for its INVITE.
Responses go back where the request came from (symmetric response routing: phones behind NAT
get them), and the top Via gets `received`/`rport` (RFC 3581).

Handlers are `handler(request, tx)`; call control builds on `send_request`, `ack`, `cancel`, `add_dialog` and
`remove_dialog`, and the transactions' `reply`/`respond`, `on_cancel`, `on_ack_timeout`, `responses()`/`final`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable

from cloudpbx.ids import random_hex
from cloudpbx.sip.dialog import Dialog
from cloudpbx.sip.headers import MAGIC_COOKIE, HeaderError, NameAddr, is_http_date, parse_delta, split_list
from cloudpbx.sip.message import SIP_VERSION, ParseError, Request, Response, display_name, parse
from cloudpbx.sip.overload import LoadGuard
from cloudpbx.sip.transaction import (
    CALLING,
    PROCEEDING,
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    ServerTransaction,
    Timers,
    TransactionLayer,
    make_response,
    server_key,
)
from cloudpbx.sip.transport import (
    Admission,
    Peer,
    StreamLimits,
    StreamTransport,
    TcpTransport,
    Transport,
    UdpTransport,
)
from cloudpbx.sip.uri import Uri, UriError

log = logging.getLogger(__name__)

Handler = Callable[[Request, ServerTransaction], Awaitable[None] | None]
KNOWN_METHODS = frozenset(
    (
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    )
)
ENDS_HERE = ("OPTIONS", "REGISTER")  # served even with Max-Forwards 0: this element is their destination
SCHEMES = ("sip", "sips", "tel")
PARSED_VIEWS = ("from_", "to", "call_id", "vias", "max_forwards", "expires")  # parsed up front: 400 if malformed
SINGLE = ("from", "to", "call-id", "cseq", "max-forwards", "content-type", "expires")
TRANSPORTS: dict[str, type[Transport]] = {"udp": UdpTransport, "tcp": TcpTransport}
PORT_ATTEMPTS = 5  # port 0: the port UDP got may be taken for TCP
RETRY_AFTER_S = 2  # what an overloaded core asks new requests to wait
TRYING_S = 0.1  # an INVITE not answered this soon gets 100 Trying (17.2.1 asks for it after 200 ms)


class Rejection(Exception):
    """A request the core answers itself: status, reason and extra headers."""

    def __init__(self, status: int, reason: str | None = None, headers: list[tuple[str, str]] | None = None):
        super().__init__(status, reason)
        self.status, self.reason, self.headers = status, reason, headers or []


class SipCore:
    """One SIP endpoint listening on `host:port` over each of `transports`; `announce` is the address it gives
    in Via, Contact and Call-ID (default: `host`, which must then be one peers can reach)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5060,
        *,
        transports: tuple[str, ...] = ("udp", "tcp"),
        user_agent: str = "cloudpbx",
        timers: Timers | None = None,
        announce: str | None = None,
        stream_limits: StreamLimits | None = None,
        admission: Admission | None = None,
    ):
        self.host, self.port = host, port
        self.stream_limits = stream_limits or StreamLimits()
        self.admission = admission  # caps on inbound stream connections; None: no caps
        address = announce or host
        self.address = f"[{address}]" if ":" in address else address  # as a URI or Via host
        self.user_agent = user_agent
        self.transport_names = transports
        self.transports: dict[str, Transport] = {}
        self.layer = TransactionLayer(self._send, self._reliable, new_tag, timers)
        self.handlers: dict[str, Handler] = {}
        self.accepts: dict[str, tuple[str, ...]] = {}
        self.supported: set[str] = set()  # extensions (option tags) we implement: Supported, and what Require may ask
        self.dialog_methods: set[str] = set()  # methods the dialog handlers take, for OPTIONS' Allow
        self.dialogs: dict[tuple[str, str, str], Dialog] = {}
        self._branch_prefix = f"{MAGIC_COOKIE}-{random_hex(4)}-"
        self._branches = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self.guard = LoadGuard(self._queued_bytes)

    # lifecycle -------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on every transport; port 0 picks a port free for all of them (tried a few times)."""
        any_port = self.port == 0
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                await self._listen()
                self.guard.start()
                return
            except OSError:
                for transport in self.transports.values():
                    await transport.close()
                self.transports.clear()
                if not any_port or attempt == PORT_ATTEMPTS:
                    raise
                self.port = 0

    async def _listen(self) -> None:
        for name in self.transport_names:
            kind = TRANSPORTS[name]
            stream = issubclass(kind, StreamTransport)
            limits = {"limits": self.stream_limits, "admission": self.admission} if stream else {}
            transport = kind(self.host, self.port, self._receive, self.layer.transport_failed, **limits)
            await transport.start()
            self.port = transport.port
            self.transports[name] = transport

    def _queued_bytes(self) -> int:
        udp = self.transports.get("udp")
        return udp.queued_bytes() if isinstance(udp, UdpTransport) else 0

    async def stop(self) -> None:
        self.guard.stop()
        for task in list(self._tasks):
            task.cancel()
        self.layer.close()
        for transport in self.transports.values():
            await transport.close()
        self.transports.clear()

    # the API for services ------------------------------------------------------------------------------------

    def on(self, method: str, handler: Handler, *, accept: tuple[str, ...] = ()) -> None:
        """Serve `method` with `handler(request, tx)`; `accept`: body types it takes (others get 415)."""
        self.handlers[method] = handler
        if accept:
            self.accepts[method] = accept

    @property
    def allowed(self) -> list[str]:
        return sorted({"OPTIONS", *self.handlers, *(("ACK", "CANCEL") if "INVITE" in self.handlers else ())})

    def contact(self, transport: str = "udp", user: str | None = None) -> str:
        """Our Contact URI for requests and dialogs over `transport`."""
        param = "" if transport == "udp" else f";transport={transport}"
        return f"sip:{user + '@' if user else ''}{self.address}:{self.port}{param}"

    def add_dialog(self, dialog: Dialog) -> None:
        """Hand in-dialog requests matching `dialog` to its handler from now on."""
        self.dialogs[dialog.id] = dialog

    def remove_dialog(self, dialog: Dialog) -> None:
        """Stop matching `dialog` (ended): its requests get 481 from now on; safe to call twice."""
        self.dialogs.pop(dialog.id, None)

    def new_request(
        self,
        method: str,
        uri: str | Uri,
        *,
        from_: str,
        to: str,
        call_id: str | None = None,
        cseq: int = 1,
        contact: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request:
        """An out-of-dialog request; From gets a tag unless it has one; the Via is added when it is sent."""
        request = Request(method, uri)
        request.add("Max-Forwards", "70")
        request.add("From", from_ if ";tag=" in from_ else f"{from_};tag={new_tag()}")
        request.add("To", to)
        request.add("Call-ID", call_id or new_call_id(self.address))
        request.add("CSeq", f"{cseq} {method}")
        if contact:
            request.add("Contact", f"<{contact}>")
        request.add("User-Agent", self.user_agent)
        for name, value in headers or ():
            request.add(name, value)
        if body:
            request.set("Content-Type", content_type or "application/sdp")
            request.body = body
        return request

    def send_request(
        self, request: Request, peer: Peer | None = None, *, on_response: Callable[[Response], None] | None = None
    ) -> ClientTransaction:
        """Send through a new client transaction (INVITE or not) to `peer` (default: from Route/R-URI)."""
        peer = peer or self.resolve(request)
        branch = self._new_branch()
        request.prepend("Via", self._via(peer, branch))
        kind = InviteClientTransaction if request.method == "INVITE" else ClientTransaction
        tx = kind(self.layer, request, peer, branch, on_response)
        self.layer.add_client(tx)
        tx.start()
        return tx

    def ack(self, tx: InviteClientTransaction, ack: Request) -> None:
        """Send the ACK of the 2xx `tx` received (it is sent again if the 2xx is retransmitted)."""
        ack.prepend("Via", self._via(tx.peer, self._new_branch()))
        self._send(tx.acked(ack), tx.peer)

    async def cancel(self, tx: InviteClientTransaction) -> ClientTransaction | None:
        """CANCEL a pending INVITE (9.1): after its first provisional response, and only while no final came."""
        if tx.state == CALLING:
            await asyncio.wait((tx.provisional, tx.final), return_when=asyncio.FIRST_COMPLETED)
        if tx.state != PROCEEDING:
            return None
        invite = tx.request
        cancel = Request("CANCEL", invite.uri)
        cancel.add("Via", invite.get_all("via")[0])
        for route in invite.get_all("route"):
            cancel.add("Route", route)
        cancel.add("Max-Forwards", "70")
        for name in ("from", "to", "call-id"):
            cancel.add(name, invite.header(name))
        cancel.add("CSeq", f"{invite.cseq.number} CANCEL")
        cancel_tx = ClientTransaction(self.layer, cancel, tx.peer, tx.branch)
        self.layer.add_client(cancel_tx)
        cancel_tx.start()
        tx.cancelled()
        return cancel_tx

    def resolve(self, request: Request) -> Peer:
        """Where a request goes without a given peer: its first Route, else its Request-URI (IP hosts only)."""
        routes = request.values("route")
        uri = NameAddr.parse(routes[0]).uri if routes else request.ruri
        if not uri.is_sip or not uri.host_is_ip or uri.transport not in self.transports:
            raise ValueError(f"cannot route to {uri}")
        return Peer(uri.transport, uri.bare_host, uri.port or 5060)

    def _via(self, peer: Peer, branch: str) -> str:
        return f"SIP/2.0/{self.transports[peer.transport].name} {self.address}:{self.port};branch={branch};rport"

    def _new_branch(self) -> str:
        return f"{self._branch_prefix}{next(self._branches):x}"

    # sending -----------------------------------------------------------------------------------------------------

    def _send(self, data: bytes, peer: Peer) -> None:
        transport = self.transports.get(peer.transport)
        if transport is not None:
            transport.send(data, peer)

    def _reliable(self, peer: Peer) -> bool:
        transport = self.transports.get(peer.transport)
        return transport is not None and transport.reliable

    # receiving ---------------------------------------------------------------------------------------------------

    def _receive(self, data: bytes, peer: Peer) -> None:
        try:
            message = parse(data)
        except ParseError as exc:
            log.debug("dropped from %s: %s", peer, exc)
            return
        try:
            if isinstance(message, Response):
                self._receive_response(message)
            else:
                self._receive_request(message, peer)
        except Exception:
            log.exception("failed on a message from %s", peer)

    def _receive_response(self, response: Response) -> None:
        try:
            via, cseq = response.via, response.cseq
        except HeaderError:
            return
        key = (via.branch, "INVITE" if cseq.method == "ACK" else cseq.method)
        tx = self.layer.clients.get(key)
        if tx is not None:
            tx.received(response)
        else:
            self.layer.absorb(key, response.status >= 200)

    def _receive_request(self, request: Request, peer: Peer) -> None:
        try:
            _stamp_via(request, peer)
            key = server_key(request)
        except HeaderError as exc:
            self._answer_stateless(request, peer, 400, f"Bad Request ({str(exc)[:80]})")
            return
        if request.defect:
            self._answer_stateless(request, peer, 400, f"Bad Request ({request.defect})")
            return
        tx = self.layer.servers.get(key)
        if tx is not None:
            tx.retransmitted(request)
        elif self.layer.absorb(key, request.method != "ACK"):
            return
        elif request.method == "ACK":
            self._receive_ack(request)
        elif self.guard.overloaded and request.method != "CANCEL" and ";tag=" not in (request.get("to") or ""):
            self._answer_stateless(
                request, peer, 503, "Service Unavailable (overloaded)", [("Retry-After", str(RETRY_AFTER_S))]
            )
        else:
            try:
                _check_wellformed(request)
            except Rejection as rejection:  # answered statelessly: nothing to retransmit, no ACK to wait for
                self._answer_stateless(request, peer, rejection.status, rejection.reason)
                return
            self._new_transaction(request, peer, key)

    def _answer_stateless(
        self,
        request: Request,
        peer: Peer,
        status: int,
        reason: str | None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        if request.method != "ACK" and request.get_all("via"):
            self._send(make_response(request, status, reason, to_tag=new_tag(), headers=headers).encode(), peer)

    def _receive_ack(self, ack: Request) -> None:
        """An ACK outside any transaction: the ACK of a 2xx we sent (or a stray one, dropped)."""
        try:
            invite_tx = self.layer.accepted.get((ack.call_id, ack.cseq.number))
        except HeaderError:
            return
        if invite_tx is None:
            return
        invite_tx.acknowledged()
        dialog = self._dialog_of(ack)
        handler = (dialog.handler if dialog and dialog.handler else None) or self.handlers.get("ACK")
        if handler is not None:
            self._run(handler, ack, invite_tx)

    def _new_transaction(self, request: Request, peer: Peer, key: tuple) -> None:
        kind = InviteServerTransaction if request.method == "INVITE" else ServerTransaction
        tx = kind(self.layer, key, request, peer)
        in_dialog = request.to.tag is not None and request.method not in ("REGISTER", "CANCEL")
        dialog = self._dialog_of(request) if in_dialog else None
        handler = dialog.handler if dialog and dialog.handler else self.handlers.get(request.method)
        try:
            self._check(request, handler, stray=in_dialog and dialog is None)
            if request.to.tag is None:
                merged = self.layer.merged.get(self.layer.merge_key(request))
                if merged is not None and merged.key != key:
                    raise Rejection(482, "Loop Detected (merged request)")
            if dialog is not None and not dialog.accepts(request):
                raise Rejection(500, "Out Of Order Request", [("Retry-After", "1")])
        except Rejection as rejection:
            self.layer.add_server(tx, request, False)
            tx.reply(rejection.status, rejection.reason, headers=rejection.headers)
            return
        tx.dialog = dialog
        self.layer.add_server(tx, request, request.to.tag is None)
        if request.method == "CANCEL":
            self._receive_cancel(tx)
        elif handler is not None:
            if isinstance(tx, InviteServerTransaction):
                tx.trying_after(TRYING_S)
            self._run(handler, request, tx)
        else:  # OPTIONS without a handler of its own
            tx.reply(200, headers=self._capabilities())

    def _check(self, request: Request, handler: Handler | None, stray: bool) -> None:
        """What makes the core refuse a well-formed request, in RFC 3261 8.2 order; a `stray` request (a To tag
        naming no dialog we know) of a known method gets 481 (12.2.2), whether or not we take it out of dialog."""
        if any(self._branch_prefix in via for via in request.get_all("via")):
            raise Rejection(482, "Loop Detected")
        if request.max_forwards == 0 and request.method not in ENDS_HERE:
            raise Rejection(483)
        method = request.method
        if stray and method in KNOWN_METHODS:
            raise Rejection(481)
        if handler is None and method not in ("OPTIONS", "CANCEL"):
            if method not in KNOWN_METHODS:
                raise Rejection(501)
            raise Rejection(405, headers=[("Allow", ", ".join(self.allowed))])
        if request.ruri.scheme not in SCHEMES:
            raise Rejection(416)
        if method != "CANCEL":
            self._check_extensions(request)
            self._check_body(request)

    def _check_extensions(self, request: Request) -> None:
        unsupported = [option for option in request.values("require") if option.lower() not in self.supported]
        if unsupported:
            raise Rejection(420, headers=[("Unsupported", ", ".join(unsupported))])

    def _check_body(self, request: Request) -> None:
        accepted = self.accepts.get(request.method, ("application/sdp",))
        encodings = [e.lower() for e in request.values("content-encoding")]
        if request.body and (request.content_type not in accepted or any(e != "identity" for e in encodings)):
            raise Rejection(415, headers=[("Accept", ", ".join(accepted)), ("Accept-Encoding", "identity")])
        wanted = request.values("accept")
        if wanted and request.method == "INVITE" and not any(_acceptable(w, accepted) for w in wanted):
            raise Rejection(406, headers=[("Accept", ", ".join(accepted))])

    def _dialog_of(self, request: Request) -> Dialog | None:
        return self.dialogs.get((request.call_id, request.to.tag or "", request.from_.tag or ""))

    def _receive_cancel(self, tx: ServerTransaction) -> None:
        invite_tx = self.layer.servers.get(tx.key[:-1] + ("INVITE",))
        if not isinstance(invite_tx, InviteServerTransaction):
            tx.reply(481)
            return
        tx.reply(200)
        invite_tx.cancel()

    def _capabilities(self) -> list[tuple[str, str]]:
        """OPTIONS' answer: every method we take, in or out of a dialog (RFC 3261 11.2), and our extensions."""
        methods = sorted({*self.allowed, *self.dialog_methods})
        headers = [("Allow", ", ".join(methods)), ("Accept", "application/sdp")]
        if self.supported:
            headers.append(("Supported", ", ".join(sorted(self.supported))))
        return headers

    def _run(self, handler: Handler, request: Request, tx) -> None:
        try:
            result = handler(request, tx)
        except Exception:
            log.exception("%s handler failed", request.method)
            _fail(tx)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(lambda t: self._finished(t, tx))

    def _finished(self, task: asyncio.Task, tx) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("handler failed", exc_info=task.exception())
            _fail(tx)


def _fail(tx) -> None:
    if isinstance(tx, ServerTransaction) and not tx.answered:
        tx.reply(500)


def _stamp_via(request: Request, peer: Peer) -> None:
    """received= when the top Via names another host than the packet came from, rport= when asked (RFC 3581)."""
    via = request.via
    params = via.params
    changed = False
    if "rport" in params and params["rport"] is None:
        params["rport"] = str(peer.port)
        params["received"] = peer.host
        changed = True
    elif via.bare_host != peer.host:
        params["received"] = peer.host
        changed = True
    if changed:
        items = split_list(request.header("via"))
        items[0] = str(via)
        request.set_first("via", ", ".join(items))


def _check_wellformed(request: Request) -> None:
    """Version 2.0 (else 505), and what every request must carry parses (else 400)."""
    if request.version != SIP_VERSION:
        raise Rejection(505)
    try:
        for key in SINGLE:
            if request.count(key) > 1:
                raise HeaderError(f"more than one {display_name(key)}")
        for view in PARSED_VIEWS:
            getattr(request, view)
        cseq = request.cseq
        if cseq.method != request.method:
            raise HeaderError("CSeq method does not match the request")
        for contact in request.contacts or ():
            if "expires" in contact.params:
                parse_delta(contact.params["expires"] or "")
        date = request.get("date")
        if date is not None and not is_http_date(date):
            raise HeaderError("bad Date")
        ruri = request.ruri
        if ruri.is_sip and ruri.headers is not None:
            raise HeaderError("headers in the Request-URI")
    except (HeaderError, UriError) as exc:
        raise Rejection(400, f"Bad Request ({str(exc)[:80]})") from None


def _acceptable(wanted: str, offered: tuple[str, ...]) -> bool:
    media = wanted.split(";", 1)[0].strip().lower()
    if media in ("*/*", ""):
        return True
    if media.endswith("/*"):
        return any(o.startswith(media[:-1]) for o in offered)
    return media in offered


def new_tag() -> str:
    return random_hex(5)


def new_call_id(host: str) -> str:
    return f"{random_hex(10)}@{host}"
