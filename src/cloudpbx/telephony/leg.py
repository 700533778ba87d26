"""One leg of a call as the B2BUA keeps it: its dialog, its live channel, and the facts its CDR records.

The caller's leg (side "a") and each callee's leg (side "b") share this: a leg is a channel from the moment it
exists, and when it ends (`end`, once) the channel goes and its CDR is written in the leg's account. An answered
leg reports its in-dialog requests and the loss of its media to its `Controller` (the conversation).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from cloudpbx.ids import GREGORIAN_OFFSET
from cloudpbx.sip.dialog import Dialog
from cloudpbx.sip.message import Request
from cloudpbx.sip.transaction import ClientTransaction, ServerTransaction
from cloudpbx.sip.uri import Uri, UriError
from cloudpbx.state.channels import Channel
from cloudpbx.store import Doc
from cloudpbx.telephony.context import CallContext

Handler = Callable[[Request, object], object]


class Controller(Protocol):
    """Who runs an answered leg: hears its in-dialog requests and ends the call when its media stops."""

    def on_request(self, leg: Leg, request: Request, tx: ServerTransaction) -> Awaitable[None]: ...

    def hang_up(self, cause: str) -> None: ...


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
    ):
        self.ctx = ctx
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

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

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
                "username": (device.get("sip") or {}).get("username", ""),
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

    def held(self, on_hold: bool) -> None:
        if self.channel:
            self.channel.extra["is_onhold"] = on_hold

    # dialog --------------------------------------------------------------------------------------------------

    def attach(self, dialog: Dialog, handler: Handler) -> None:
        """Take in-dialog requests for this leg from now on."""
        dialog.handler = handler
        self.dialog = dialog
        self.ctx.core.add_dialog(dialog)

    def send(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> ClientTransaction:
        """An in-dialog request to this leg's phone."""
        request = self.dialog.new_request(method, headers=headers, body=body, content_type=content_type)
        return self.ctx.core.send_request(request, self.dialog.peer)

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
        self.ended_at = time.time()
        self.cause, self.code, self.disposition = cause, code, disposition
        if self.dialog is not None:
            self.ctx.core.remove_dialog(self.dialog)
            self.dialog.handler = None  # the handler refers back to this leg: freed without waiting for the collector
        if self.channel is not None:
            self.ctx.channels.remove(self.channel.uuid)
        self.ctx.record(self)
        return True

    def cdr(self) -> dict:
        """The leg as `accounts.cdrs.record_leg` takes it."""
        leg = {
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
        if self.device:
            leg.update(
                authorizing_id=self.device["_id"],
                authorizing_type="device",
                username=(self.device.get("sip") or {}).get("username", ""),
            )
            if self.device.get("owner_id"):
                leg["owner_id"] = self.device["owner_id"]
        return leg
