"""Calls out through carriers: one `CarrierLeg` per gateway of the route decision, tried one after the other.

A carrier leg is an `OutboundLeg` whose INVITE goes to a gateway (its server and port) with the dial string as
Request-URI: the caller ID in From (at our own address, or the account's realm or `from_uri_realm` with
`format_from_uri`), P-Asserted-Identity always (carriers are trusted peers; Privacy says what to hide), the
gateway's `custom_sip_headers`, and the caller's codecs narrowed to the gateway's `codecs`. A 401/407 is answered
once with the gateway's username and password (RFC 7616); the same INVITE goes out again with the next CSeq.

`CarrierBridging` tries the gateways in order: no 18x within a gateway's `progress_timeout`, no response, or a
refusal hands over to the next gateway; busy and decline (486, 600, 603) go back to the caller at once. The whole
attempt stops after the callflow's timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import cast

from cloudpbx.callflow.call import BridgeResult
from cloudpbx.callflow.caller_id import CallerId
from cloudpbx.limits.metering import Meter
from cloudpbx.media.codecs import CodecPolicy, Incompatible
from cloudpbx.media.relay import NoPorts
from cloudpbx.routing.carriers import Gateway
from cloudpbx.routing.decision import NO_ROUTE, Endpoint
from cloudpbx.sip.core import new_call_id
from cloudpbx.sip.digest import answer_challenge
from cloudpbx.sip.headers import is_token
from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.transaction import InviteClientTransaction
from cloudpbx.sip.transport import Peer
from cloudpbx.telephony import causes
from cloudpbx.telephony.bridge import NO_ANSWER, Caller, Failure
from cloudpbx.telephony.context import CallContext
from cloudpbx.telephony.leg import RINGING, Leg, LegState
from cloudpbx.telephony.outbound import Origin, OutboundLeg, Ringing, name_addr, uri_user

log = logging.getLogger(__name__)

NO_FAILOVER = frozenset((486, 600, 603))  # busy and decline are the callee's answer, whichever gateway carried it
PROGRESS_TIMEOUT = "PROGRESS_TIMEOUT"  # FreeSWITCH's cause when a gateway sends no 18x in time
_CHALLENGES = {401: ("www-authenticate", "Authorization"), 407: ("proxy-authenticate", "Proxy-Authorization")}


class CarrierLeg(OutboundLeg):
    """An INVITE to one gateway of a carrier."""

    def __init__(
        self,
        ctx: CallContext,
        origin: Origin,
        account_id: str,
        endpoint: Endpoint,
        peer: Peer,
        channel_vars: Mapping[str, object],
        meter: Meter | None = None,
    ):
        gateway = endpoint.gateway
        self.from_host = (gateway.from_uri_realm or origin.realm) if gateway.format_from_uri else ctx.core.address
        # a gateway is no registered contact: the device part of OutboundLeg's constructor does not apply
        Leg.__init__(
            self,
            ctx,
            side="b",
            call_id=new_call_id(ctx.core.address),
            account_id=account_id,
            direction="outbound",
            device=None,
            interaction_id=origin.interaction_id,
            bridge_id=origin.call_id,
            from_uri=f"sip:{uri_user(origin.identity.user)}@{self.from_host}",
            to_uri=endpoint.dial_string,
            request_uri=endpoint.dial_string,
            realm=origin.realm,
            state=LegState.CALLING,
        )
        self.endpoint = endpoint
        self.callee = ("", endpoint.matched)
        self.channel_vars = {
            "resource_id": endpoint.carrier.id,
            "global_resource": "true" if endpoint.carrier.is_global else "false",
            **channel_vars,
        }
        self.challenged = False
        self.meter = meter
        self._ringing: Ringing | None = None
        self._signalling(origin, peer)

    def codecs(self) -> CodecPolicy:
        """The gateway's `codecs`, any audio codec when it names none."""
        return CodecPolicy.from_media({"audio": {"codecs": list(self.endpoint.gateway.codecs)}})

    def identity_headers(self) -> list[tuple[str, str]]:
        identity = self.origin.identity
        headers = []
        if identity.asserted_number:
            asserted = f"sip:{uri_user(identity.asserted_number)}@{self.from_host}"
            headers.append(("P-Asserted-Identity", name_addr(identity.asserted_name, asserted)))
        if identity.privacy:
            headers.append(("Privacy", identity.privacy))
        return headers + custom_headers(self.endpoint.gateway)

    def ring(self, body: bytes, ringing: Ringing) -> None:
        self._ringing = ringing
        super().ring(body, ringing)

    async def _received(self, response: Response, ringing: Ringing) -> None:
        """Past the final response (and the INVITE resent after a challenge) the bridge is no longer needed here:
        holding it would keep the whole call in a reference cycle for the garbage collector to find."""
        await super()._received(response, ringing)
        if response.status >= 200:
            self._ringing = None

    def _refused(self, response: Response) -> None:
        """A challenge is answered once, while the leg still rings; anything else ends the leg."""
        if response.status in _CHALLENGES and self.state in RINGING:
            invite = self._authenticated(response)
            if invite is not None:
                self._resend(invite)
                return
        super()._refused(response)

    def _authenticated(self, response: Response) -> Request | None:
        """The INVITE again with the answer to the challenge; None when it cannot be answered (again)."""
        gateway, invite = self.endpoint.gateway, self.invite
        if self.challenged or invite is None or not gateway.username or gateway.password is None:
            return None
        self.challenged = True
        asked, answering = _CHALLENGES[response.status]
        for challenge in response.get_all(asked):
            value = answer_challenge(challenge, "INVITE", invite.uri, gateway.username, gateway.password)
            if value is not None:
                again = Request(
                    "INVITE", invite.uri, [h for h in invite.items() if h[0].lower() not in ("via", "cseq")]
                )
                again.body = invite.body
                again.set("CSeq", f"{invite.cseq.number + 1} INVITE")
                again.add(answering, value)
                return again
        log.info("leg %s: the gateway's challenge offers nothing we answer", self.call_id)
        return None

    def _resend(self, invite: Request) -> None:
        assert self._ringing is not None
        self.invite = invite
        tx = cast(InviteClientTransaction, self.ctx.core.send_request(invite, self.peer))  # an INVITE's
        self.tx = tx
        self.ctx.spawn(self._read(tx, self._ringing))


def custom_headers(gateway: Gateway) -> list[tuple[str, str]]:
    """The gateway's `custom_sip_headers` that make a header line (a token name, a one-line text or number)."""
    found = []
    for name, value in gateway.custom_sip_headers.items():
        text = str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
        if is_token(name) and text is not None and not any(c in text for c in "\r\n\0"):
            found.append((name, text))
    return found


async def gateway_peer(gateway: Gateway) -> Peer | None:
    """Where a gateway's requests go (over UDP); a name is looked up; None when it resolves to nothing."""
    try:
        ipaddress.ip_address(gateway.server)
        return Peer("udp", gateway.server, gateway.port)
    except ValueError:
        pass
    try:
        found = await asyncio.get_running_loop().getaddrinfo(gateway.server, gateway.port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        log.info("gateway %s does not resolve: %s", gateway.server, exc)
        return None
    return Peer("udp", str(found[0][4][0]), gateway.port) if found else None


class CarrierBridging:
    """One `bridge_carriers` of an inbound call: the decision's gateways one at a time (the `Ringing` of each)."""

    def __init__(
        self,
        ctx: CallContext,
        call: Caller,
        account_id: str,
        endpoints: Sequence[Endpoint],
        caller_id: CallerId,
        timeout_s: int,
        channel_vars: Mapping[str, object],
        meter: Meter | None = None,
    ):
        self.ctx, self.call, self.account_id = ctx, call, account_id
        self.meter = meter
        self.origin = replace(call.origin(), identity=caller_id.sip())
        self.endpoints = list(endpoints)
        self.timeout_s = timeout_s
        self.channel_vars = channel_vars
        loop = asyncio.get_running_loop()
        self.winner: asyncio.Future[tuple[OutboundLeg, Response]] = loop.create_future()
        self.progressed: asyncio.Future[None] = loop.create_future()

    async def run(self) -> tuple[OutboundLeg, Response] | BridgeResult:
        """The leg that answered with its 2xx, or the last gateway's failure."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        failure: Failure = (NO_ROUTE, 404)
        for endpoint in self.endpoints:
            if self.call.ended:
                break
            if loop.time() >= deadline:
                failure = NO_ANSWER
                break
            found = await self._try(endpoint, deadline)
            if found is None:
                return self.winner.result()
            failure = found
            log.info("call %s: %s failed with %s", self.call.call_id, endpoint.dial_string, failure)
            if failure[1] in NO_FAILOVER:
                break
        if self.call.ended:
            return BridgeResult(False, causes.ORIGINATOR_CANCEL, 487)
        return BridgeResult(False, *failure)

    async def _try(self, endpoint: Endpoint, deadline: float) -> Failure | None:
        """Call one gateway; None when it answered (the winner), else why it failed."""
        peer = await gateway_peer(endpoint.gateway)
        leg = (
            None
            if peer is None
            else CarrierLeg(self.ctx, self.origin, self.account_id, endpoint, peer, self.channel_vars, self.meter)
        )
        if leg is None or not leg.reachable:
            return (causes.NORMAL_TEMPORARY_FAILURE, 503)
        try:
            body = await leg.prepare(
                self.call.offer, self.call.codecs, self.call.bypass or endpoint.gateway.bypass_media
            )
        except Incompatible as exc:
            return (exc.hangup_cause, exc.sip_code)
        except NoPorts:
            log.warning("call %s: no RTP ports left", self.call.call_id)
            return (causes.NORMAL_TEMPORARY_FAILURE, 503)
        if self.call.ended:
            leg.media.close()
            return (causes.ORIGINATOR_CANCEL, 487)
        self.progressed = asyncio.get_running_loop().create_future()
        leg.ring(body, self)
        progress_by = min(deadline, asyncio.get_running_loop().time() + endpoint.gateway.progress_timeout)
        if not await self._until({self.progressed, leg.settled()}, progress_by):
            return self._give_up(leg, (PROGRESS_TIMEOUT, 0))
        if not await self._until({leg.settled()}, deadline):
            return self._give_up(leg, NO_ANSWER)
        return None if self.winner.done() else (leg.cause, leg.code)

    async def _until(self, awaited: set[asyncio.Future], deadline: float) -> bool:
        """Wait for one of `awaited` until `deadline`; False when time ran out or the caller left first."""
        left = deadline - asyncio.get_running_loop().time()
        if left > 0:
            await asyncio.wait(
                {*awaited, self.call.gone, self.winner}, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
        return any(future.done() for future in awaited) and not self.call.ended

    def _give_up(self, leg: CarrierLeg, failure: Failure) -> Failure:
        leg.cancel(causes.ORIGINATOR_CANCEL if self.call.ended else failure[0])
        return (causes.ORIGINATOR_CANCEL, 487) if self.call.ended else failure

    # what the leg reports ---------------------------------------------------------------------------------------

    async def progress(self, leg: OutboundLeg, response: Response) -> None:
        if not self.progressed.done():
            self.progressed.set_result(None)
        if not self.winner.done() and not self.call.ended:
            await self.call.ringing(leg, response)

    def answered(self, leg: OutboundLeg, response: Response) -> None:
        if self.winner.done() or self.call.ended:
            leg.bye(causes.LOSE_RACE if self.winner.done() else causes.ORIGINATOR_CANCEL)
            return
        self.winner.set_result((leg, response))
