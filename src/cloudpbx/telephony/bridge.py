"""One `bridge` of an inbound call: ring the targets' registered contacts and pick the first that answers.

simultaneous: every target starts after its delay and rings for its own timeout, all together, and the whole
attempt stops after the bridge's timeout. single: one target after the other, each after its delay for its own
timeout. A target fails at once when it has no registered contact or shares no codec with the caller. When one
leg answers the others are cancelled (LOSE_RACE); when the caller cancels, all of them (ORIGINATOR_CANCEL).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from cloudpbx.callflow.call import BridgeResult, Strategy, Target
from cloudpbx.media.codecs import CodecPolicy, Incompatible
from cloudpbx.media.relay import NoPorts
from cloudpbx.sip.message import Response
from cloudpbx.telephony import causes
from cloudpbx.telephony.context import CallContext
from cloudpbx.telephony.outbound import Origin, OutboundLeg

log = logging.getLogger(__name__)

Failure = tuple[str, int]
NO_ANSWER: Failure = (causes.NO_ANSWER, 480)


def combined(failures: Sequence[Failure]) -> Failure:
    """The failures' common cause when they all agree, else NO_ANSWER/480."""
    if failures and len({cause for cause, _ in failures}) == 1:
        return failures[0]
    return NO_ANSWER


class Caller(Protocol):
    """The call a bridge rings for (the inbound call): what the legs offer, and whether the caller is still there."""

    call_id: str
    gone: asyncio.Future[None]  # set when the caller leaves
    offer: bytes
    codecs: CodecPolicy
    bypass: bool

    @property
    def ended(self) -> bool: ...

    def origin(self) -> Origin: ...

    async def ringing(self, leg: OutboundLeg, response: Response) -> None: ...


class Bridging:
    def __init__(self, ctx: CallContext, call: Caller, targets: Sequence[Target], strategy: Strategy, timeout_s: int):
        self.ctx = ctx
        self.call = call
        self.origin = call.origin()
        self.targets = list(targets)
        self.strategy = strategy
        self.timeout_s = timeout_s
        self.winner: asyncio.Future[tuple[OutboundLeg, Response]] = asyncio.get_running_loop().create_future()
        self.legs: list[OutboundLeg] = []
        self.outcomes: dict[int, Failure] = {}  # target index → why it failed

    @property
    def settled(self) -> bool:
        return self.winner.done() or self.call.ended

    async def run(self) -> tuple[OutboundLeg, Response] | BridgeResult:
        """The leg that answered with its 2xx, or how the bridge failed."""
        try:
            if self.strategy == "single":
                for index, target in enumerate(self.targets):
                    await self._attempt([(index, target)], None)
                    if self.settled:
                        break
            else:
                await self._attempt(list(enumerate(self.targets)), self.timeout_s)
        finally:
            self._stop()
        if self.winner.done():
            return self.winner.result()
        if self.call.ended:
            return BridgeResult(False, causes.ORIGINATOR_CANCEL, 487)
        cause, code = combined([self.outcomes.get(index, NO_ANSWER) for index in range(len(self.targets))])
        return BridgeResult(False, cause, code)

    async def _attempt(self, targets: list[tuple[int, Target]], limit: float | None) -> None:
        """Ring `targets` until one answers, the caller leaves, all of them failed, or `limit` seconds pass."""
        loop = asyncio.get_running_loop()
        rings = {asyncio.ensure_future(self._ring(index, target)) for index, target in targets}
        deadline = None if limit is None else loop.time() + limit
        try:
            while rings and not self.settled:
                left = None if deadline is None else deadline - loop.time()
                if left is not None and left <= 0:
                    break
                waiting: set[asyncio.Future[Any]] = {*rings, self.winner, self.call.gone}
                done, _ = await asyncio.wait(waiting, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                for ring in done & rings:
                    ring.result()  # a bug while ringing fails the call: InboundCall.run ends it
                rings -= done
        finally:
            for ring in rings:
                ring.cancel()

    async def _ring(self, index: int, target: Target) -> None:
        if target.delay_s:
            await asyncio.sleep(target.delay_s)
        registrations = self.ctx.registrations.for_device(target.account_id, target.device_id)
        if not registrations:
            self.outcomes[index] = (causes.USER_NOT_REGISTERED, 480)
            return
        failures: list[Failure] = []
        legs = []
        for registration in registrations:
            leg = OutboundLeg(self.ctx, self.origin, target, registration)
            failure = await self._start(leg, target)
            if self.settled:
                return
            if failure:
                failures.append(failure)
            else:
                legs.append(leg)
        if legs:
            _, ringing = await asyncio.wait([leg.settled() for leg in legs], timeout=target.timeout_s)
            for leg in legs:
                if ringing:
                    leg.cancel(causes.NO_ANSWER)
                failures.append(NO_ANSWER if ringing else (leg.cause, leg.code))
        self.outcomes[index] = combined(failures)

    async def _start(self, leg: OutboundLeg, target: Target) -> Failure | None:
        """Send the leg's INVITE; the failure instead when it cannot be called."""
        if not leg.reachable:
            return (causes.NORMAL_TEMPORARY_FAILURE, 503)
        bypass = self.call.bypass or await self.ctx.bypass_media(target.account_id, target.device)
        try:
            body = await leg.prepare(self.call.offer, self.call.codecs, bypass)
        except Incompatible as exc:
            log.info("call %s: %s cannot take it: %s", self.call.call_id, target.device_id, exc)
            return (exc.hangup_cause, exc.sip_code)
        except NoPorts:
            log.warning("call %s: no RTP ports left", self.call.call_id)
            return (causes.NORMAL_TEMPORARY_FAILURE, 503)
        if self.settled:  # the caller left or another leg answered meanwhile
            if leg.session is not None:
                leg.session.close()
        else:
            self.legs.append(leg)
            leg.ring(body, self)
        return None

    # what the legs report --------------------------------------------------------------------------------------

    async def progress(self, leg: OutboundLeg, response: Response) -> None:
        if not self.settled:
            await self.call.ringing(leg, response)

    def answered(self, leg: OutboundLeg, response: Response) -> None:
        """The first leg to answer wins; a late one is hung up (one answering after its CANCEL never comes here)."""
        if self.settled:
            leg.bye(causes.LOSE_RACE if self.winner.done() else causes.ORIGINATOR_CANCEL)
            return
        self.winner.set_result((leg, response))

    def _stop(self) -> None:
        """Cancel every leg but the winner."""
        winner = self.winner.result()[0] if self.winner.done() else None
        cause = causes.LOSE_RACE if winner else causes.ORIGINATOR_CANCEL if self.call.ended else causes.NO_ANSWER
        for leg in self.legs:
            if leg is not winner:
                leg.cancel(cause)
