"""What the callflow engine needs from a call: the contract the B2BUA's inbound leg fulfils.

The engine never sees SIP. It reads who is calling what, asks the call to ring device targets (`bridge`),
to answer with a SIP response (`respond`) or to end (`hangup`), and edits the caller ID shown to callees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from cloudpbx.accounts import devices
from cloudpbx.callflow.caller_id import CallerId
from cloudpbx.limits.metering import Meter
from cloudpbx.routing.decision import Endpoint
from cloudpbx.store import Doc

Strategy = Literal["simultaneous", "single"]


@dataclass(frozen=True)
class Target:
    """One device to ring: `timeout_s` counts from when it starts ringing, which is `delay_s` after the bridge."""

    account_id: str
    device: Doc  # the device document: sip credentials, media settings, owner_id...
    timeout_s: int
    delay_s: int = 0

    @property
    def device_id(self) -> str:
        return self.device["_id"]

    @property
    def owner_id(self) -> str | None:
        return devices.owner_id(self.device)


@dataclass(frozen=True)
class BridgeResult:
    """How a bridge ended.

    answered: a target answered; the bridge returned only after that conversation ended.
    cause: the Q.850-style cause name (`NORMAL_CLEARING`, `USER_BUSY`, `NO_ANSWER`, `CALL_REJECTED`,
        `USER_NOT_REGISTERED`, `ORIGINATOR_CANCEL`, `INCOMPATIBLE_DESTINATION`...): failure branches are keyed by it.
    code: the final SIP status of a failure (486, 480, 603, 488...), 0 when there is none; branch key `sip:<code>`.
    """

    answered: bool
    cause: str
    code: int = 0


class Call(Protocol):
    """The inbound leg, as the engine drives it (implemented by the B2BUA).

    Attributes:
        call_id: the inbound leg's Call-ID, for logs.
        account_id: the caller's account; routing happens there.
        dialed: the dialled number (the Request-URI user part).
        caller_device: the authenticated calling device document, None for an unauthenticated caller (a carrier);
            only device callers may reach the `no_match` callflow, and a device is not rung for its own call.
        caller_id: what callees are shown; the engine sets it when the flow starts (from `caller_device`'s
            settings, falling back to the value the B2BUA set from the From header) and when set_cid/prepend_cid
            run. `bridge` presents the value current at that moment (`caller_id.sip()` gives the headers).
        ended: True once the caller is gone (hung up, cancelled) or the call got its final answer (a final response
            was sent, or an answered bridge finished); the engine stops as soon as it sees it.
    """

    call_id: str
    account_id: str
    dialed: str
    caller_id: CallerId

    @property
    def caller_device(self) -> Doc | None: ...  # read-only: a call that always has one may declare `Doc`

    @property
    def ended(self) -> bool: ...  # read-only: the call decides when it is over

    async def bridge(self, targets: Sequence[Target], strategy: Strategy, timeout_s: int) -> BridgeResult:
        """Ring `targets` (never empty) and connect the first that answers.

        simultaneous: each target rings from its `delay_s` for its own `timeout_s`, all of them together; the
            whole attempt gives up after `timeout_s`. single: one target after another in the given order, each
            for its own `timeout_s`. A target that cannot be reached (not registered, refused) fails at once.
        Failure: when every target failed the same way that cause (e.g. all busy → USER_BUSY/486), otherwise
        NO_ANSWER/480; a caller cancelling gives ORIGINATOR_CANCEL/487 and sets `ended`.
        On answer the bridge returns when the conversation is over, with `ended` set.
        """
        ...

    async def bridge_carriers(
        self,
        endpoints: Sequence[Endpoint],
        caller_id: CallerId,
        timeout_s: int,
        channel_vars: Mapping[str, object],
        meter: Meter | None = None,
    ) -> BridgeResult:
        """Call out through carriers' gateways, one after the other in the given order, presenting `caller_id`.

        A gateway that fails (5xx, 408, 480, 404, any other refusal, no 18x within its `progress_timeout`, no
        response) hands over to the next; busy and decline (486, 600, 603) end the attempt at once, and so does
        `timeout_s` passing. Failure: the last gateway's cause. `channel_vars` (the billing classification, the
        rate) go into the carrier legs' CDRs; `meter` hears the answering leg's answer and end (per-minute calls).
        On answer it returns when the conversation is over, with `ended` set.
        """
        ...

    def note(self, **channel_vars: str) -> None:
        """Keep facts for the caller's CDR (its custom_channel_vars): e.g. why a carrier call was refused."""
        ...

    async def respond(self, code: int, reason: str) -> None:
        """Send a SIP response to the unanswered caller; an empty `reason` means the standard phrase.
        A final response (>= 300) ends the call."""
        ...

    async def hangup(self, cause: str) -> None:
        """End the call with a cause name; unanswered, the caller gets the SIP response for that cause
        (USER_BUSY 486, NO_ANSWER 480, ...). A no-op once `ended`."""
        ...
