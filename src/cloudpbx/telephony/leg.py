"""One leg of a call as the B2BUA keeps it: its INVITE usage state, its dialog, its live channel, and the facts its
CDR records.

The caller's leg (side "a") and each callee's leg (side "b") share this: a leg is a channel from the moment it
exists, and when it ends (`end`, once) the channel goes and its CDR is written in the leg's account. An answered
leg reports its in-dialog requests and the loss of its media to its `Controller` (the conversation).

Its state follows the INVITE usage of RFC 3261 and RFC 6141 (`LegState`, moves checked against `TRANSITIONS`), and
a re-INVITE in progress is a small machine of its own (`ReInvite`), so what a leg may do next is read from two
fields, never from a combination of flags.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from enum import Enum
from typing import Any, Protocol

from cloudpbx.accounts.devices import sip_username
from cloudpbx.ids import GREGORIAN_OFFSET
from cloudpbx.limits.metering import Meter
from cloudpbx.sip.dialog import Dialog
from cloudpbx.sip.message import Request
from cloudpbx.sip.transaction import ClientTransaction, ServerTransaction
from cloudpbx.sip.uri import Uri, UriError
from cloudpbx.state.channels import Channel
from cloudpbx.store import Doc
from cloudpbx.telephony.context import CallContext
from cloudpbx.telephony.reliability import PRACK_TRANSITIONS, Prack

Handler = Callable[[Request, Any], Awaitable[None] | None]  # (request, its server transaction)


class LegState(Enum):
    CALLING = "calling"  # our INVITE went out, nothing came back yet
    PROCEEDING = "proceeding"  # a provisional response without a dialog, or the caller's INVITE taken (100 sent)
    EARLY = "early"  # a provisional response with a To tag: an early dialog
    CANCELLING = "cancelling"  # our CANCEL went out; the INVITE's final response is still to come
    ACCEPTED = "accepted"  # a 2xx came; our ACK is still owed (a late offer: the caller's ACK brings the answer)
    CONFIRMED = "confirmed"  # answered and acknowledged: the dialog is up
    TERMINATED = "terminated"  # refused, cancelled or hung up; its CDR is queued


S = LegState
RINGING = frozenset((S.CALLING, S.PROCEEDING, S.EARLY))
ANSWERED = frozenset((S.ACCEPTED, S.CONFIRMED))
SETTLED = frozenset((S.ACCEPTED, S.CONFIRMED, S.TERMINATED))  # the INVITE got its final response (or the leg ended)

# Every legal move; anything else is a bug and raises. Any state but the last may end (a BYE, a failure, a timeout).
TRANSITIONS: dict[LegState, frozenset[LegState]] = {
    S.CALLING: frozenset((S.PROCEEDING, S.EARLY, S.CANCELLING, S.ACCEPTED, S.CONFIRMED, S.TERMINATED)),
    S.PROCEEDING: frozenset((S.PROCEEDING, S.EARLY, S.CANCELLING, S.ACCEPTED, S.CONFIRMED, S.TERMINATED)),
    S.EARLY: frozenset((S.EARLY, S.CANCELLING, S.ACCEPTED, S.CONFIRMED, S.TERMINATED)),
    S.CANCELLING: frozenset((S.ACCEPTED, S.CONFIRMED, S.TERMINATED)),  # a 2xx crossing our CANCEL is ACKed and BYEd
    S.ACCEPTED: frozenset((S.CONFIRMED, S.TERMINATED)),
    S.CONFIRMED: frozenset((S.TERMINATED,)),
    S.TERMINATED: frozenset(),
}


class ReInvite(Enum):
    """An offer in progress on a leg: a re-INVITE on an answered leg, or an UPDATE on an answered or early one (one
    at a time per call, RFC 3261 14.2, RFC 3311 5.2)."""

    IDLE = "idle"
    RECEIVED = "received"  # the leg's phone sent one; we are relaying it
    SENT = "sent"  # we sent one to the leg's phone and wait for its answer


REINVITE_TRANSITIONS: dict[ReInvite, frozenset[ReInvite]] = {
    ReInvite.IDLE: frozenset((ReInvite.RECEIVED, ReInvite.SENT)),
    ReInvite.RECEIVED: frozenset((ReInvite.IDLE,)),
    ReInvite.SENT: frozenset((ReInvite.IDLE,)),
}


class IllegalTransition(RuntimeError):
    def __init__(self, leg: str, was: Enum, to: Enum):
        super().__init__(f"leg {leg}: no move from {was.value} to {to.value}")
        self.was, self.to = was, to


class Controller(Protocol):
    """Who runs an answered leg: hears its in-dialog requests and ends the call when its media stops."""

    def on_request(self, leg: Leg, request: Request, tx: ServerTransaction) -> Awaitable[None]: ...

    def hang_up(self, cause: str) -> None: ...

    def on_refer(self, leg: Leg, request: Request, tx: ServerTransaction) -> Awaitable[None]:
        """The leg's phone asks to transfer the call (REFER)."""
        ...


def gregorian(unix: float) -> float:
    return unix + GREGORIAN_OFFSET


def address(uri: str) -> str:
    """`user@host` of a SIP URI, as KAZOO's CDRs keep from, to, request and their `_uri` fields."""
    try:
        parsed = Uri.parse(uri)
    except UriError:
        return uri
    if not parsed.is_sip:
        return parsed.opaque or ""
    return f"{parsed.user}@{parsed.host}" if parsed.user else parsed.host


class Leg:
    """A leg's identity (call id, account, device, direction), parties, timing and how it ended."""

    def __init__(
        self,
        ctx: CallContext,
        *,
        side: str,
        call_id: str,
        account_id: str,
        direction: str,
        device: Doc | None,
        interaction_id: str,
        bridge_id: str,
        from_uri: str,
        to_uri: str,
        request_uri: str,
        realm: str,
        user_agent: str = "",
        state: LegState = LegState.PROCEEDING,
    ):
        self.ctx = ctx
        self.state = state
        self.reinvite = ReInvite.IDLE
        self.prack = Prack.OFF
        self.allows: frozenset[str] = frozenset()  # the methods its phone allows (its Allow header)
        self._waiters: list[tuple[Collection[LegState], asyncio.Future[LegState]]] = []
        self.side = side  # its side of the media session: "a" the caller's, "b" a callee's
        self.call_id = call_id
        self.account_id = account_id
        self.direction = direction
        self.device = device
        self.interaction_id = interaction_id
        self.bridge_id = bridge_id
        self.from_uri, self.to_uri, self.request_uri = from_uri, to_uri, request_uri
        self.realm = realm
        self.user_agent = user_agent
        self.caller = ("", "")  # (name, number) of the caller as this leg knows it
        self.callee = ("", "")
        self.other_call_id = ""
        self.dialog: Dialog | None = None
        self.sent_sdp = b""  # the last body this leg got from us: the answer to a re-INVITE without an offer
        self.started = time.time()
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.cause, self.code, self.disposition = "", 0, ""
        self.channel: Channel | None = None
        self.transfer_history: dict[str, dict[str, str]] = {}  # KAZOO's CDR field: Gregorian second → transfer
        self.channel_vars: dict[str, object] = {}  # more of KAZOO's custom_channel_vars (billing, carrier)
        self.meter: Meter | None = None  # a per-minute call's: hears the answer and the end, can cut the call off

    @property
    def ended(self) -> bool:
        return self.state is LegState.TERMINATED

    # the state machines ----------------------------------------------------------------------------------------

    def move(self, to: LegState) -> LegState:
        """Enter `to` (IllegalTransition unless TRANSITIONS allows it); whoever waits for it hears. Returns the
        state left."""
        was = self.state
        if to not in TRANSITIONS[was]:
            raise IllegalTransition(self.call_id, was, to)
        self.state = to
        waiting, self._waiters = self._waiters, []
        for states, future in waiting:
            if to in states:
                if not future.done():
                    future.set_result(to)
            else:
                self._waiters.append((states, future))
        return was

    def when(self, states: Collection[LegState]) -> asyncio.Future[LegState]:
        """A future done once the leg is in one of `states` (at once if it is)."""
        future: asyncio.Future[LegState] = asyncio.get_running_loop().create_future()
        if self.state in states:
            future.set_result(self.state)
        else:
            self._waiters.append((states, future))
        return future

    def renegotiate(self, to: ReInvite, *, early: bool = False) -> None:
        """Move the offer machine; one starts only on an answered leg, or an early one for an UPDATE (`early`)."""
        allowed = ANSWERED | {LegState.EARLY} if early else ANSWERED
        if to not in REINVITE_TRANSITIONS[self.reinvite] or (to is not ReInvite.IDLE and self.state not in allowed):
            raise IllegalTransition(self.call_id, self.reinvite, to)
        self.reinvite = to

    def acknowledging(self, to: Prack) -> None:
        """Move the reliable provisional machine (`telephony.reliability`)."""
        if to not in PRACK_TRANSITIONS[self.prack]:
            raise IllegalTransition(self.call_id, self.prack, to)
        self.prack = to

    def takes_update(self) -> bool:
        """An UPDATE with an offer may go to this leg's phone now: its dialog is up or early with the early
        offer/answer complete, and it allows UPDATE (RFC 3311 5.1)."""
        early = self.state is LegState.EARLY and self.prack is Prack.IDLE and bool(self.sent_sdp)
        ready = self.state in ANSWERED or early
        return ready and self.dialog is not None and "UPDATE" in self.allows and self.reinvite is ReInvite.IDLE

    # live state ------------------------------------------------------------------------------------------------

    def open_channel(self) -> None:
        device = self.device or {}
        self.channel = Channel(
            uuid=self.call_id,
            account_id=self.account_id,
            direction=self.direction,
            caller_id_number=self.caller[1],
            destination=self.callee[1],
            bridge_id=self.interaction_id,
            extra={
                "caller_id_name": self.caller[0],
                "callee_id_name": self.callee[0],
                "callee_id_number": self.callee[1],
                "authorizing_id": device.get("_id", ""),
                "authorizing_type": "device" if device else "",
                "owner_id": device.get("owner_id", ""),
                "username": sip_username(device),
                "realm": self.realm,
                "timestamp": int(gregorian(self.started)),
                "other_leg": "",
                "is_onhold": False,
                "node": self.ctx.node,
            },
        )
        self.ctx.channels.add(self.channel)

    def mark_answered(self, other_call_id: str) -> None:
        self.answered_at = time.time()
        self.other_call_id = other_call_id
        if self.channel:
            self.channel.answered = True
            self.channel.extra["other_leg"] = other_call_id
        if self.meter is not None:
            self.meter.answered(self.answered_at, self.call_id, self._cut_off)

    def _cut_off(self, cause: str) -> None:
        """Out of money (the balance crawler): BYE to both sides of its conversation, the CDRs saying why."""
        conversation = self.ctx.conversations.get(self.call_id)
        if conversation is not None:
            conversation.hang_up(cause)
        else:
            self.bye(cause)

    def held(self, on_hold: bool) -> None:
        if self.channel:
            self.channel.extra["is_onhold"] = on_hold

    # dialog --------------------------------------------------------------------------------------------------

    def attach(self, dialog: Dialog, handler: Handler) -> None:
        """Take in-dialog requests for this leg from now on."""
        dialog.handler = handler
        self.dialog = dialog
        self.ctx.core.add_dialog(dialog)

    @property
    def up(self) -> Dialog:
        """The dialog of a leg that has one (answered): anything else asking for it is a bug."""
        if self.dialog is None:
            raise RuntimeError(f"leg {self.call_id} ({self.state.value}) has no dialog")
        return self.dialog

    def send(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> ClientTransaction:
        """An in-dialog request to this leg's phone."""
        dialog = self.up
        request = dialog.new_request(method, headers=headers, body=body, content_type=content_type)
        return self.ctx.core.send_request(request, dialog.peer)

    def bye(self, cause: str) -> None:
        """Hang this answered leg up from our side."""
        if self.ended:
            return
        if self.dialog is not None:
            self.send("BYE")
        self.end(cause, 200, "send_bye")

    # the end -------------------------------------------------------------------------------------------------

    def end(self, cause: str, code: int, disposition: str) -> bool:
        """Record how the leg ended (only the first time counts); False when it had ended already."""
        if self.ended:
            return False
        self.move(LegState.TERMINATED)
        self.ended_at = time.time()
        self.cause, self.code, self.disposition = cause, code, disposition
        if self.dialog is not None:
            self.ctx.core.remove_dialog(self.dialog)
            self.dialog.handler = None  # the handler refers back to this leg: freed without waiting for the collector
        if self.channel is not None:
            self.ctx.channels.remove(self.channel.uuid)
        self.ctx.record(self)
        return True

    def cdr(self) -> dict[str, object]:
        """The leg as `accounts.cdrs.record_leg` takes it."""
        leg: dict[str, object] = {
            "call_id": self.call_id,
            "interaction_id": self.interaction_id,
            "call_direction": self.direction,
            "caller_id_name": self.caller[0],
            "caller_id_number": self.caller[1],
            "callee_id_name": self.callee[0],
            "callee_id_number": self.callee[1],
            "from": address(self.from_uri),
            "to": address(self.to_uri),
            "request": address(self.request_uri),
            "from_uri": address(self.from_uri),
            "to_uri": address(self.to_uri),
            "start_timestamp": gregorian(self.started),
            "end_timestamp": gregorian(self.ended_at or time.time()),
            "hangup_cause": self.cause or "NORMAL_CLEARING",
            "disposition": self.disposition,
            "bridge_id": self.bridge_id,
            "realm": self.realm,
            "node": self.ctx.node,
            "media_server": self.ctx.node,
            "user_agent": self.user_agent,
        }
        if self.code:
            leg["hangup_code"] = self.code
        if self.answered_at is not None:
            leg["answer_timestamp"] = gregorian(self.answered_at)
        if self.other_call_id:
            leg["other_leg_call_id"] = self.other_call_id
        if self.transfer_history:
            leg["transfer_history"] = self.transfer_history
        if self.channel_vars:
            leg["custom_channel_vars"] = dict(self.channel_vars)
        if self.meter is not None and self.answered_at is not None and self.ended_at is not None:
            # the cost its ledger entry is debited, over the billing seconds the CDR counts
            billed = self.meter.settle(gregorian(self.answered_at), gregorian(self.ended_at))
            leg["custom_channel_vars"] = {**self.channel_vars, **billed}
        if self.device:
            leg.update(
                authorizing_id=self.device["_id"],
                authorizing_type="device",
                username=sip_username(self.device),
            )
            if self.device.get("owner_id"):
                leg["owner_id"] = self.device["owner_id"]
        return leg
