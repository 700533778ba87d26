"""RFC 3261 section 17 transactions (with RFC 6026's Accepted state): client and server, INVITE and non-INVITE.

Timers run on the event loop (`call_later`), never as tasks: a transaction costs two timer handles at most.
Over UDP requests and final responses are retransmitted (timers A, E, G) and retransmitted requests are absorbed
by answering them with the last response. A transaction that has only retransmissions left to absorb (timers
D, I, J, L and M) is retired: the layer keeps its key, the bytes that answer a retransmission and the peer in
plain tuples for 64*T1, swept in one queue, and drops the transaction itself (timer K keeps nothing: a copy of
a response no transaction waits for is dropped all the same). Under load tens of thousands of
transactions wait so; as objects they made the collector's full passes take half a second. Over TCP nothing is
retransmitted, so nothing is kept.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from cloudpbx.sip.headers import MAGIC_COOKIE, HeaderError
from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.transport import Peer

if TYPE_CHECKING:
    from cloudpbx.sip.dialog import Dialog

T1, T2, T4 = 0.5, 4.0, 5.0

# states
TRYING, PROCEEDING, COMPLETED, CONFIRMED, ACCEPTED, TERMINATED = (
    "trying",
    "proceeding",
    "completed",
    "confirmed",
    "accepted",
    "terminated",
)
CALLING = "calling"


class Timers:
    """T1, T2, T4 (RFC 3261 table 4); tests and benchmarks may shrink them."""

    def __init__(self, t1: float = T1, t2: float = T2, t4: float = T4):
        self.t1, self.t2, self.t4 = t1, t2, t4


def server_key(request: Request) -> tuple:
    """What identifies a server transaction (17.2.3), method last: an ACK shares its INVITE's key, a CANCEL has
    its own (its INVITE's key is the same with the method swapped)."""
    via = request.via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    if branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE):
        return (branch, via.sent_by, method)
    return ("2543", request.uri, request.from_.tag, request.call_id, request.cseq.number, via.sent_by, branch, method)


def client_key(branch: str, method: str) -> tuple:
    return (branch, "INVITE" if method == "ACK" else method)


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """A response to `request` (8.2.6): its Vias, From, To (tagged unless 100), Call-ID and CSeq copied."""
    response = Response(status, reason)
    for via in request.get_all("via"):
        response.add("Via", via)
    for name in ("from", "to", "call-id", "cseq"):
        for value in request.get_all(name):
            response.add(name, value)
    if to_tag and status > 100 and "to" in request and not _has_tag(request):
        response.set("To", f"{request.get('to')};tag={to_tag}")
    if 100 < status < 300 and request.method in ("INVITE", "SUBSCRIBE"):
        for route in request.get_all("record-route"):
            response.add("Record-Route", route)
    for name, value in headers or ():
        response.add(name, value)
    if body:
        response.set("Content-Type", content_type or "application/sdp")
        response.body = body
    return response


def _has_tag(request: Request) -> bool:
    try:
        return request.to.tag is not None
    except HeaderError:
        return False


class Transaction:
    """What client and server transactions share: the layer, the key, the peer and the timers."""

    __slots__ = ("_timers", "indexed", "key", "layer", "peer", "request", "state")

    def __init__(self, layer: TransactionLayer, key: tuple, peer: Peer):
        self.layer = layer
        self.key = key
        self.peer = peer
        self.state = ""
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.indexed: tuple[tuple[dict, tuple], ...] = ()  # the layer's other indexes that hold it, for `forget`

    @property
    def reliable(self) -> bool:
        return self.layer.is_reliable(self.peer)

    def _timer(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        old = self._timers.pop(name, None)
        if old:
            old.cancel()
        self._timers[name] = asyncio.get_running_loop().call_later(delay, callback)

    def _stop(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle:
            handle.cancel()

    def _terminate(self) -> None:
        if self.state == TERMINATED:
            return
        self.state = TERMINATED
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self.layer.forget(self)


# server transactions ------------------------------------------------------------------------------------------------


class ServerTransaction(Transaction):
    """Non-INVITE server transaction (17.2.2): answers retransmissions with the last response."""

    __slots__ = ("_wire", "dialog", "status", "to_tag")

    def __init__(self, layer: TransactionLayer, key: tuple, request: Request, peer: Peer):
        super().__init__(layer, key, peer)
        self.request: Request | None = request  # None once the transaction only absorbs retransmissions
        self.state = TRYING
        self.status = 0  # of the last response sent
        self._wire: bytes = b""
        self.to_tag = layer.new_tag()  # the tag every response of this transaction carries
        self.dialog: Dialog | None = None  # the dialog an in-dialog request belongs to, set by the core
        if request.method != "INVITE":  # a handler that never answers must not keep the transaction forever
            self._timer("unanswered", 64 * layer.timers.t1, self._terminate)

    @property
    def answered(self) -> bool:
        return self.status >= 200

    def reply(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response | None:
        """Build a response to the request (tagged with this transaction's To tag) and send it; None when a
        final response went out already."""
        if self.request is None:
            return None
        response = make_response(
            self.request, status, reason, to_tag=self.to_tag, headers=headers, body=body, content_type=content_type
        )
        self.respond(response)
        return response

    def respond(self, response: Response) -> bool:
        """Send `response`; False when the transaction already has a final response."""
        request = self.request
        if request is None or self.state in (COMPLETED, CONFIRMED, ACCEPTED, TERMINATED):
            return False
        self._send(request, response)
        if response.status < 200:
            self.state = PROCEEDING
        else:
            self.state = COMPLETED
            self.dialog = self.request = None
            self.layer.retire(self, self._wire)  # timer J
        return True

    def _send(self, request: Request, response: Response) -> None:
        untagged = request.get("to")
        if response.status > 100 and untagged and response.get("to") == untagged and not _has_tag(request):
            response.set("To", f"{untagged};tag={self.to_tag}")  # e.g. a response someone else built
        self.status = response.status
        self._wire = response.encode()
        self.layer.send(self._wire, self.peer)

    def retransmitted(self, request: Request) -> None:
        """The same request again: answer it with what was answered before (nothing yet: nothing)."""
        if self._wire and self.state in (PROCEEDING, COMPLETED, ACCEPTED):
            self.layer.send(self._wire, self.peer)


class InviteServerTransaction(ServerTransaction):
    """INVITE server transaction (17.2.1 + RFC 6026): 2xx retransmitted until the ACK, non-2xx until its ACK."""

    __slots__ = ("_ack_timeout_callbacks", "_cancel_callbacks", "_interval", "acked", "cancelled")

    def __init__(self, layer: TransactionLayer, key: tuple, request: Request, peer: Peer):
        super().__init__(layer, key, request, peer)
        self.state = PROCEEDING
        self.cancelled = False
        self.acked = False
        self._cancel_callbacks: list[Callable[[], None]] = []
        self._ack_timeout_callbacks: list[Callable[[], None]] = []
        self._interval = layer.timers.t1

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call `callback` when a CANCEL ends this INVITE (the core has then answered it 487 already)."""
        self._cancel_callbacks.append(callback)

    def on_ack_timeout(self, callback: Callable[[], None]) -> None:
        """Call `callback` when a 2xx was never acknowledged (64*T1): the TU should end the dialog with BYE."""
        self._ack_timeout_callbacks.append(callback)

    def trying_after(self, delay: float) -> None:
        """Send 100 Trying unless the TU answers within `delay`: a challenge or a quick answer needs none."""
        self._timer("trying", delay, self._trying)

    def _trying(self) -> None:
        if self.state == PROCEEDING and not self.status:
            self.reply(100)

    def respond(self, response: Response) -> bool:
        request = self.request
        if request is None or self.state not in (PROCEEDING,):
            return False
        self._stop("trying")
        self._send(request, response)
        if response.status < 200:
            return True
        t1 = self.layer.timers.t1
        if response.status < 300:
            self.state = ACCEPTED
            self.layer.awaiting_ack(self, request)
            self._timer("L", 64 * t1, self._accepted_timeout)
        else:
            self.state = COMPLETED
            self._timer("H", 64 * t1, self._terminate)
        self.dialog = None
        if self.state == ACCEPTED:  # the ACK handler is given this transaction, with its INVITE
            request.compact()
        else:
            self.request = None
        self._cancel_callbacks.clear()  # too late to cancel
        if not self.reliable:
            self._timer("G", t1, self._retransmit_final)
        return True

    def _retransmit_final(self) -> None:
        if self.state in (COMPLETED, ACCEPTED) and not self.acked:
            self.layer.send(self._wire, self.peer)
            self._interval = min(2 * self._interval, self.layer.timers.t2)
            self._timer("G", self._interval, self._retransmit_final)

    def retransmitted(self, request: Request) -> None:
        if request.method == "ACK":
            self._ack_for_failure()
        else:
            super().retransmitted(request)

    def _ack_for_failure(self) -> None:
        if self.state != COMPLETED:
            return
        self.state = CONFIRMED
        self.layer.retire(self, b"")  # timer I: further ACKs are absorbed

    def acknowledged(self) -> None:
        """The ACK of our 2xx arrived (matched by the core through Call-ID and CSeq)."""
        self.acked = True
        self._ack_timeout_callbacks.clear()
        self.layer.retire(self, self._wire)  # timer L: a late copy of the INVITE gets the 2xx again

    def _accepted_timeout(self) -> None:
        if not self.acked:
            for callback in self._ack_timeout_callbacks:
                callback()
        self._terminate()

    def cancel(self) -> bool:
        """A CANCEL for this INVITE: 487 unless a final response went out already; True when it took effect."""
        if self.state != PROCEEDING:
            return False
        self.cancelled = True
        callbacks = list(self._cancel_callbacks)  # the 487 clears them
        self.reply(487)
        for callback in callbacks:
            callback()
        return True


# client transactions ------------------------------------------------------------------------------------------------


class ClientTransaction(Transaction):
    """Non-INVITE client transaction (17.1.2). Responses reach the TU through `responses()` and `final`."""

    __slots__ = ("_interval", "_queue", "_wire", "branch", "final", "on_response")

    def __init__(
        self,
        layer: TransactionLayer,
        request: Request,
        peer: Peer,
        branch: str,
        on_response: Callable[[Response], None] | None = None,
    ):
        super().__init__(layer, client_key(branch, request.method), peer)
        self.request = request  # kept for the transaction's life: CANCEL, the ACK of a failure and 408/503 need it
        self.branch = branch
        self._wire = request.encode()
        self._interval = layer.timers.t1
        self.final: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._queue: asyncio.Queue[Response] = asyncio.Queue()
        self.on_response = on_response

    def start(self) -> None:
        self.state = CALLING if self.request.method == "INVITE" else TRYING
        self.layer.send(self._wire, self.peer)
        t1 = self.layer.timers.t1
        if not self.reliable:
            self._timer("A/E", t1, self._retransmit)
        self._timer("B/F", 64 * t1, self._timeout)

    async def responses(self) -> AsyncIterator[Response]:
        """Each response in turn, provisional ones first, ending with the final one (408/503 made up locally)."""
        while True:
            response = await self._queue.get()
            yield response
            if response.status >= 200:
                return

    def _deliver(self, response: Response) -> None:
        self._queue.put_nowait(response)
        if response.status >= 200 and not self.final.done():
            self.final.set_result(response)
        if self.on_response is not None:
            self.on_response(response)
        if response.status >= 200:  # the transaction may outlive its TU by 32 s: keep no more than it needs
            self.on_response = None
            self.request.compact()

    def _retransmit(self) -> None:
        if self.state in (TRYING, PROCEEDING, CALLING):
            self.layer.send(self._wire, self.peer)
            t2 = self.layer.timers.t2
            if self.state == CALLING:
                self._interval *= 2
            else:
                self._interval = t2 if self.state == PROCEEDING else min(2 * self._interval, t2)
            self._timer("A/E", self._interval, self._retransmit)

    def _timeout(self) -> None:
        if self.state in (TRYING, PROCEEDING, CALLING):
            self._fail(408)

    def transport_failed(self) -> None:
        if self.state in (TRYING, PROCEEDING, CALLING):
            self._fail(503)

    def _fail(self, status: int) -> None:
        self._deliver(make_response(self.request, status))
        self._terminate()

    def received(self, response: Response) -> None:
        if self.state not in (TRYING, PROCEEDING):
            return
        if response.status < 200:
            self.state = PROCEEDING
            self._deliver(response)
            return
        self.state = COMPLETED
        self._deliver(response)
        self._terminate()  # timer K would only absorb copies of the response: unmatched ones are dropped as well


class InviteClientTransaction(ClientTransaction):
    """INVITE client transaction (17.1.1 + RFC 6026): ACKs failures itself; 2xx go to the TU, which ACKs them."""

    __slots__ = ("_ack_wire", "provisional")

    def __init__(
        self,
        layer: TransactionLayer,
        request: Request,
        peer: Peer,
        branch: str,
        on_response: Callable[[Response], None] | None = None,
    ):
        super().__init__(layer, request, peer, branch, on_response)
        self._ack_wire = b""
        self.provisional = asyncio.get_running_loop().create_future()  # set by the first 1xx (CANCEL waits)

    def received(self, response: Response) -> None:
        if response.status < 200:
            if self.state in (CALLING, PROCEEDING):
                self.state = PROCEEDING
                self._stop("A/E")
                self._stop("B/F")
                if not self.provisional.done():
                    self.provisional.set_result(response)
                self._deliver(response)
            return
        if response.status < 300:
            self._received_2xx(response)
        else:
            self._received_failure(response)

    def _received_2xx(self, response: Response) -> None:
        if self.state in (CALLING, PROCEEDING):
            self.state = ACCEPTED
            self._stop("A/E")
            self._stop("B/F")
            self._timer("M", 64 * self.layer.timers.t1, self._terminate)  # unless the TU ACKs it (`acked`)
            self._deliver(response)

    def _received_failure(self, response: Response) -> None:
        if self.state in (CALLING, PROCEEDING):
            self.state = COMPLETED
            self._stop("A/E")
            self._stop("B/F")
            self._ack_wire = self._failure_ack(response).encode()
            self.layer.send(self._ack_wire, self.peer)
            self._deliver(response)
            self.layer.retire(self, self._ack_wire)  # timer D: a copy of the failure is ACKed again

    def cancelled(self) -> None:
        """A CANCEL went out (9.1): without a final response within 64*T1 the INVITE ends with a local 408."""
        self._timer("B/F", 64 * self.layer.timers.t1, self._timeout)

    def acked(self, ack: Request) -> bytes:
        """The TU's ACK of the 2xx, as sent; the transaction retires, ACKing copies of the 2xx (timer M)."""
        self._ack_wire = ack.encode()
        self.layer.retire(self, self._ack_wire)
        return self._ack_wire

    def _failure_ack(self, response: Response) -> Request:
        """The ACK of a non-2xx (17.1.1.3): same R-URI, Call-ID, From, CSeq number and top Via; To from the
        response."""
        invite = self.request
        ack = Request("ACK", invite.uri)
        ack.add("Via", invite.get_all("via")[0])
        for route in invite.get_all("route"):
            ack.add("Route", route)
        ack.add("Max-Forwards", "70")
        ack.add("From", invite.header("from"))
        ack.add("To", response.get("to") or invite.header("to"))
        ack.add("Call-ID", invite.header("call-id"))
        ack.add("CSeq", f"{invite.cseq.number} ACK")
        return ack


# the layer -------------------------------------------------------------------------------------------------------


class TransactionLayer:
    """The live transactions, the send path they use, and the INVITEs whose 2xx waits for an ACK."""

    def __init__(
        self,
        send: Callable[[bytes, Peer], None],
        is_reliable: Callable[[Peer], bool],
        new_tag: Callable[[], str],
        timers: Timers | None = None,
    ):
        self.send = send
        self.is_reliable = is_reliable
        self.new_tag = new_tag
        self.timers = timers or Timers()
        self.servers: dict[tuple, ServerTransaction] = {}
        self.clients: dict[tuple, ClientTransaction] = {}
        self.merged: dict[tuple, ServerTransaction] = {}  # (Call-ID, From tag, CSeq) of requests without To tag
        self.accepted: dict[tuple[str, int], InviteServerTransaction] = {}  # (Call-ID, CSeq) awaiting the ACK
        # Retired transactions, client and server keys alike (their shapes differ): the bytes that answer a copy
        # of the last message (b"": absorb it silently) and the peer's fields, until a time kept in `_retiring`.
        self.retired: dict[tuple, tuple[bytes, str, str, int]] = {}  # (answer, *peer): plain tuples go untracked
        self._retiring: deque[tuple[float, tuple]] = deque()  # (ends at, key) in that order
        self._sweeper: asyncio.TimerHandle | None = None

    @staticmethod
    def merge_key(request: Request) -> tuple:
        """Requests with the same key but another branch arrived by two paths: a loop (8.2.2.2)."""
        return (request.call_id, request.from_.tag, request.cseq.number, request.method)

    def add_server(self, tx: ServerTransaction, request: Request, merged: bool) -> None:
        self.servers[tx.key] = tx
        if merged:
            self._index(self.merged, self.merge_key(request), tx)

    def add_client(self, tx: ClientTransaction) -> None:
        self.clients[tx.key] = tx

    def awaiting_ack(self, tx: InviteServerTransaction, invite: Request) -> None:
        self._index(self.accepted, (invite.call_id, invite.cseq.number), tx)

    @staticmethod
    def _index(index: dict, key: tuple, tx: Transaction) -> None:
        index[key] = tx
        tx.indexed += ((index, key),)

    def retire(self, tx: Transaction, answer: bytes) -> None:
        """End `tx`; over UDP its key answers copies of its last message with `answer` for 64*T1 more, give or
        take a sweep (one sweep for all costs less than a timer each)."""
        tx._terminate()
        if tx.reliable:
            return
        loop = asyncio.get_running_loop()
        self.retired[tx.key] = (answer, *tx.peer)
        self._retiring.append((loop.time() + 64 * self.timers.t1, tx.key))
        if self._sweeper is None:
            self._sweeper = loop.call_later(self.timers.t1, self._sweep)

    def absorb(self, key: tuple, answer_it: bool) -> bool:
        """Whether `key` names a retired transaction; then the copy that arrived is answered if `answer_it`."""
        retired = self.retired.get(key)
        if retired is None:
            return False
        if answer_it and retired[0]:
            self.send(retired[0], Peer(*retired[1:]))
        return True

    def _sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        while self._retiring and self._retiring[0][0] <= now:  # same delay for all: expiry order is FIFO
            self.retired.pop(self._retiring.popleft()[1], None)
        self._sweeper = asyncio.get_running_loop().call_later(self.timers.t1, self._sweep) if self._retiring else None

    def forget(self, tx: Transaction) -> None:
        table = self.clients if isinstance(tx, ClientTransaction) else self.servers
        if table.get(tx.key) is tx:
            del table[tx.key]
        for index, key in tx.indexed:
            if index.get(key) is tx:
                del index[key]
        tx.indexed = ()

    def transport_failed(self, peer: Peer) -> None:
        for tx in [t for t in self.clients.values() if t.peer == peer]:
            tx.transport_failed()

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._retiring.clear()
        self.retired.clear()
        for tx in [*self.servers.values(), *self.clients.values()]:
            tx._terminate()
