"""Reliable provisional responses (RFC 3262): sent by an INVITE's server side until PRACKed, acknowledged by its
client side.

`ReliableProvisionals` serves one INVITE server transaction whose request supports or requires 100rel: each
provisional response it sends carries `Require: 100rel` and the next RSeq and goes out again after T1, 2*T1,
4*T1 ... until a PRACK names it (RAck: its RSeq, the INVITE's CSeq number and method); one not PRACKed within
64*T1 is a failure its owner answers with a 5xx (section 3). One is unacknowledged at a time, later ones wait in
order. `Acknowledgements` is the client side: the RAck of the next reliable provisional response of each early
dialog, and nothing for copies or responses out of order (section 4).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable

from cloudpbx.sip.headers import CSeq, RAck, parse_rseq
from cloudpbx.sip.message import Message, Response
from cloudpbx.sip.transaction import PROCEEDING, InviteServerTransaction

OPTION = "100rel"


def _options(message: Message, name: str) -> set[str]:
    return {value.lower() for value in message.values(name)}


def requires_100rel(message: Message) -> bool:
    return OPTION in _options(message, "require")


def offers_100rel(message: Message) -> bool:
    """The request's sender can take reliable provisional responses (it supports or requires 100rel)."""
    return OPTION in _options(message, "supported") or requires_100rel(message)


def is_reliable(response: Response) -> bool:
    """A provisional response sent reliably: it must be PRACKed."""
    return 100 < response.status < 200 and "rseq" in response and requires_100rel(response)


class ReliableProvisionals:
    """The reliable provisional responses of one INVITE server transaction; `on_failure` is called once when one
    was not PRACKed within 64*T1."""

    def __init__(self, tx: InviteServerTransaction, on_failure: Callable[[], None]):
        assert tx.request is not None
        self.tx = tx
        self.cseq = tx.request.cseq.number
        self.on_failure: Callable[[], None] | None = on_failure
        self.next_rseq = secrets.randbelow(2**30) + 1  # random start (7.1), with room to count up
        self.pending: Response | None = None
        self.waiting: deque[Response] = deque()
        self.failed = False
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = self._interval = 0.0
        self._waiters: list[asyncio.Future[bool]] = []

    @property
    def outstanding(self) -> bool:
        """A reliable provisional response is out and not PRACKed yet."""
        return self.pending is not None

    def send(self, response: Response) -> None:
        """Send `response` reliably now, or after the ones before it are PRACKed."""
        response.set("Require", OPTION)
        response.set("RSeq", str(self.next_rseq))
        self.next_rseq += 1
        if self.pending is None:
            self._transmit(response)
        else:
            self.waiting.append(response)

    def prack(self, rack: RAck) -> bool:
        """A PRACK's RAck: True when it acknowledges the response waiting for it (the next one then goes out)."""
        pending = self.pending
        if pending is None or rack != RAck(int(pending.header("rseq")), self.cseq, "INVITE"):
            return False
        self._cancel_timer()
        self.pending = None
        if self.waiting:
            self._transmit(self.waiting.popleft())
        else:
            self._wake()
        return True

    async def acknowledged(self) -> bool:
        """Wait until every reliable provisional response is PRACKed (True) or one never was (False)."""
        if self.pending is None or self.failed:
            return not self.failed
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        return await future

    def stop(self) -> None:
        """A final response went out (or the call ended): nothing more to send or wait for."""
        self._cancel_timer()
        self.pending = None
        self.waiting.clear()
        self.on_failure = None
        self._wake()

    def _transmit(self, response: Response) -> None:
        if not self.tx.respond(response):  # a final response went out already
            self.stop()
            return
        self.pending = response
        t1 = self.tx.layer.timers.t1
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + 64 * t1
        self._interval = t1
        first = 64 * t1 if self.tx.reliable else t1  # a reliable transport carries it once
        self._timer = loop.call_later(first, self._retransmit)

    def _retransmit(self) -> None:
        self._timer = None
        if self.pending is None or self.tx.state != PROCEEDING:
            self.stop()
            return
        loop = asyncio.get_running_loop()
        left = self._deadline - loop.time()
        if left <= self.tx.layer.timers.t1 / 100:  # the timer fires a hair early or late: 64*T1 is up
            self._fail()
            return
        self.tx.respond(self.pending)
        self._interval *= 2
        self._timer = loop.call_later(min(self._interval, left), self._retransmit)

    def _fail(self) -> None:
        on_failure = self.on_failure
        self.failed = True
        self.stop()
        if on_failure is not None:
            on_failure()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(not self.failed)


class Acknowledgements:
    """The client side of 100rel for one INVITE: the RSeq last PRACKed in each early dialog (by its To tag)."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def rack(self, response: Response, invite: CSeq) -> RAck | None:
        """The RAck that PRACKs `response` (a reliable provisional response to the INVITE `invite`); None for a
        copy of one PRACKed already or one out of order, which is neither PRACKed nor processed further.
        Raises HeaderError for a bad RSeq."""
        rseq = parse_rseq(response.header("rseq"))
        tag = response.to.tag or ""
        last = self.last.get(tag)
        if last is not None and rseq != last + 1:
            return None
        self.last[tag] = rseq
        return RAck(rseq, invite.number, invite.method)
