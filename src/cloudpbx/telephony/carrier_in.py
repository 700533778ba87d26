"""Calls in from carriers: an out-of-dialog INVITE from a gateway address of an enabled carrier is not challenged;
its number picks the account, whose callflows run it as a call with no device.

`CarrierGate.identify` decides, before any digest challenge:
- the source address is no carrier's gateway (`routing.gateways`): None, the INVITE is a device's;
- the Request-URI's number (else the To's), in any form carriers send (+1NPA..., 1NPA..., NPA...), is no number
  in service on the platform: 404;
- the number's account, or one above it, is disabled: 403;
- only carriers of other accounts send from there: 403. A global carrier reaches any number; an account's own
  carrier (BYOC) the numbers of that account and of the accounts below it, since a reseller brings carriers for
  its customers.
Otherwise the call gets a `CarrierIdentity`: the caller ID the carrier sent (From, or P-Asserted-Identity when
present), after the number's features. Admission (`CarrierIdentity.admit`) asks the trunk limits of the number's
account and its reseller for an inbound call; refused, a caller that offered G.711 hears a short tone as early media
(183) and the call is refused 486 USER_BUSY, as jonny5 has it. The grant goes back when the call ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cloudpbx.accounts.tree import AccountDirectory, AccountNode
from cloudpbx.callflow.caller_id import CallerId
from cloudpbx.limits.decision import INBOUND, CarrierCall
from cloudpbx.limits.metering import Meter, Metering
from cloudpbx.limits.trunks import Grant, Trunks
from cloudpbx.media.announcement import Announcement
from cloudpbx.media.codecs import CodecPolicy
from cloudpbx.media.relay import MediaRelay, NoPorts
from cloudpbx.numbers.classification import Classifiers
from cloudpbx.numbers.classifiers import classify
from cloudpbx.numbers.inbound import InboundNumber, InboundNumbers
from cloudpbx.routing.gateways import CarrierSource, GatewayIndex
from cloudpbx.sip.headers import HeaderError, NameAddr
from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.transaction import make_response
from cloudpbx.sip.transport import Peer
from cloudpbx.sip.uri import unescape
from cloudpbx.store import Doc
from cloudpbx.telephony import causes
from cloudpbx.telephony.identity import Admitted

log = logging.getLogger(__name__)

ANNOUNCEMENT_S = 1.5  # how long a caller refused for its trunks hears the tone before the 486


@dataclass
class Admission:
    """What admitting carrier calls needs: the trunk limits, per-minute metering and, for the refusal's tone, the
    relay's ports."""

    trunks: Trunks
    metering: Metering
    relay: MediaRelay
    announcement_s: float = ANNOUNCEMENT_S


@dataclass
class CarrierIdentity:
    """A call in from `carrier` to `number`, routed in the number's account."""

    account: AccountNode
    carrier: CarrierSource
    number: InboundNumber
    classification: str
    caller: CallerId
    admission: Admission
    grant: Grant | None = field(default=None, init=False)
    meter: Meter | None = field(default=None, init=False)

    @property
    def realm(self) -> str:
        return self.account.realm

    @property
    def device(self) -> Doc | None:
        return None

    def destination(self, dialed: str) -> str:
        """The number in E.164, as KAZOO hands carrier calls to callflows."""
        return self.number.e164

    def presented(self, request: Request) -> CallerId:
        return self.caller

    def codecs(self) -> CodecPolicy:
        return CodecPolicy.from_media(None)

    def channel_vars(self) -> dict[str, object]:
        return {
            "authorizing_type": "resource",
            "authorizing_id": self.carrier.carrier_id,
            "resource_id": self.carrier.carrier_id,
            "global_resource": self.carrier.is_global,
            "e164_destination": self.number.e164,
            "did_classifier": self.classification,
        }

    async def admit(self, call: Admitted) -> bool:
        trunks = self.admission.trunks
        self.grant = grant = await trunks.authorize(
            self.account.id, call.call_id, CarrierCall(INBOUND, self.number.e164, self.classification)
        )
        call.a.channel_vars["account_billing"] = grant.account.billing
        if grant.reseller is not None:
            call.a.channel_vars["reseller_billing"] = grant.reseller.billing
        if any(decision and decision.soft_limit for decision in (grant.account, grant.reseller)):
            call.a.channel_vars["soft_limit"] = True  # let through over its limits (jonny5's Soft-Limit)
        if grant.allowed:
            await self._metered(call, grant)
            return True
        log.info("call %s to %s refused by trunk limits: %s", call.call_id, self.number.e164, grant.reason)
        await self._announce(call)
        await call.hangup(causes.USER_BUSY)
        return False

    async def _metered(self, call: Admitted, grant: Grant) -> None:
        """A call some charged account pays per minute is rated by the number called and billed when it ends."""
        metering = self.admission.metering
        self.meter = await metering.open(grant, call.call_id, INBOUND, self.number.e164, self.caller.number)
        if self.meter is not None:
            call.a.meter = self.meter
            call.a.channel_vars.update(self.meter.channel_vars())

    async def _announce(self, call: Admitted) -> None:
        if not call.offer:
            return
        try:
            announcement = await Announcement.answering(self.admission.relay, call.offer)
        except NoPorts:  # refused all the same, without the tone
            log.warning("call %s: no RTP ports left for the refusal's tone", call.call_id)
            return
        if announcement is None:
            return
        try:
            if not call.ended:
                call.early_media(announcement.answer)
                await announcement.play(self.admission.announcement_s, lambda: call.ended)
        finally:
            announcement.close()

    async def finish(self) -> None:
        """Bill the call (when metered), then give its trunks back."""
        if self.meter is not None:
            await self.meter.close()
        if self.grant is not None and self.grant.allowed:
            await self.admission.trunks.release(self.grant)


class CarrierGate:
    """Recognises carrier calls and finds where they go."""

    def __init__(
        self,
        gateways: GatewayIndex,
        numbers: InboundNumbers,
        directory: AccountDirectory,
        classifiers: Classifiers,
        admission: Admission,
    ):
        self.gateways, self.numbers, self.directory = gateways, numbers, directory
        self.classifiers, self.admission = classifiers, admission

    async def identify(self, request: Request, peer: Peer) -> CarrierIdentity | Response | None:
        """The carrier call `request` is, the response refusing it, or None when it comes from no carrier."""
        sources = await self.gateways.carriers_at(peer.host, peer.port)
        if not sources:
            return None
        number = await self.numbers.find(_numbers(request))
        if number is None:
            return make_response(request, 404, "Not Found")
        account = await self.directory.get(number.account_id)
        if account is None or not await self._enabled(account):
            return make_response(request, 403, "Forbidden")
        carrier = await self._serving(sources, account)
        if carrier is None:
            log.info("carrier call from %s to %s refused: no carrier there serves its account", peer.host, number.e164)
            return make_response(request, 403, "Forbidden")
        name, caller_number = await self.numbers.caller(number, *_sent_caller(request))
        classification = classify(number.e164, await self.classifiers.current()).name
        return CarrierIdentity(account, carrier, number, classification, CallerId(name, caller_number), self.admission)

    async def _serving(self, sources: tuple[CarrierSource, ...], account: AccountNode) -> CarrierSource | None:
        """The carrier the call comes through: the nearest own carrier of the account or one above it that is
        enabled, else a global one."""
        own = [source for source in sources if not source.is_global and account.is_within(source.partition)]
        depth = {ancestor: i for i, ancestor in enumerate((*account.tree, account.id))}
        for source in sorted(own, key=lambda source: -depth[source.partition]):
            holder = await self.directory.get(source.partition)
            if holder is not None and await self._enabled(holder):
                return source
        return next((source for source in sources if source.is_global), None)

    async def _enabled(self, account: AccountNode) -> bool:
        """The account and every account above it are enabled."""
        for account_id in (*account.tree, account.id):
            node = account if account_id == account.id else await self.directory.get(account_id)
            if node is not None and not node.enabled:
                return False
        return True


def _numbers(request: Request) -> list[str]:
    """Where carriers put the dialled number: the Request-URI's user, else the To's."""
    found = []
    for uri in (request.ruri, request.to.uri):
        user = unescape(uri.user or "") if uri.is_sip else (uri.opaque or "").split(";", 1)[0]
        found.append(user.split(";", 1)[0])
    return found


def _sent_caller(request: Request) -> tuple[str, str]:
    """(name, number) as the carrier sent them: P-Asserted-Identity when present, else From."""
    sender = request.from_
    name, number = sender.display or "", sender.uri.user or ""
    asserted = request.get("p-asserted-identity")
    if asserted:
        try:
            identity = NameAddr.parse(asserted.split(",", 1)[0])
        except HeaderError:
            return name, number
        number = (identity.uri.user if identity.uri.is_sip else (identity.uri.opaque or "").split(";", 1)[0]) or number
        name = identity.display or name
    return name, unescape(number)
