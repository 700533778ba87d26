"""An UPDATE (RFC 3311) from one leg's phone, in an early or a confirmed dialog.

Its offer goes through the relay session to the other leg's phone as an UPDATE when that one can take it now
(`Leg.takes_update`: its dialog up, or early with the early offer/answer done through 100rel, and UPDATE in its
Allow), and the answer comes back the same way. When the other phone cannot take one, the relay alone absorbs the
change (a new address, port or direction towards the relay) and the leg is answered with the media it already had
from us; with none yet, 500 and Retry-After (5.2). An UPDATE without a body (a session refresh) is answered 200.
One offer at a time per call: 491 while either leg has one in progress, as for a re-INVITE.
"""

from __future__ import annotations

import logging
import secrets

from cloudpbx.media.codecs import Incompatible
from cloudpbx.media.relay import RelaySession
from cloudpbx.media.sdp import SdpError
from cloudpbx.sip.message import Request
from cloudpbx.sip.transaction import ServerTransaction
from cloudpbx.telephony.context import ALLOW
from cloudpbx.telephony.leg import ANSWERED, Leg, ReInvite

log = logging.getLogger(__name__)
UNUSABLE = (SdpError, Incompatible, RuntimeError)  # RuntimeError: the media session closed meanwhile


async def relay_update(
    session: RelaySession | None, leg: Leg, other: Leg | None, request: Request, tx: ServerTransaction
) -> None:
    """Answer `leg`'s UPDATE, passing its offer on to `other` (the leg it talks to, None when there is none)."""
    headers = [("Contact", f"<{leg.up.local_contact}>"), ("Allow", ALLOW)]
    if not request.body:
        tx.reply(200, headers=headers)
        return
    if leg.reinvite is not ReInvite.IDLE or (other is not None and other.reinvite is not ReInvite.IDLE):
        tx.reply(491)
        return
    leg.renegotiate(ReInvite.RECEIVED, early=True)
    try:
        status, answer = await _answer(session, leg, other, request.body)
    finally:
        for each in (leg, other):
            if each is not None and each.reinvite is not ReInvite.IDLE:
                each.renegotiate(ReInvite.IDLE)
    if leg.ended:
        tx.reply(481)
    elif status == 200:
        tx.reply(200, headers=headers, body=answer)
        leg.sent_sdp = answer
        if session is not None and other is not None and {leg.state, other.state} <= ANSWERED:
            held = session.on_hold()
            leg.held(held)
            other.held(held)
    elif status == 500:
        tx.reply(500, headers=[("Retry-After", str(secrets.randbelow(10) + 1))])
    else:
        tx.reply(status)


async def _answer(session: RelaySession | None, leg: Leg, other: Leg | None, offer: bytes) -> tuple[int, bytes]:
    """The status and answer for `leg`'s offer."""
    if session is None:
        return 500, b""
    try:
        relayed = await session.update(leg.side, offer)
    except UNUSABLE as exc:
        log.info("call %s: UPDATE refused: %s", leg.call_id, exc)
        return 488, b""
    if other is None or other.ended or not other.takes_update():
        return (200, leg.sent_sdp) if leg.sent_sdp else (500, b"")
    other.renegotiate(ReInvite.SENT, early=True)
    response = await other.send("UPDATE", body=relayed).final
    if response.status >= 300:
        session.refused()
        return (response.status if response.status < 700 else 500), b""
    if not response.body or other.ended:
        return 500, b""
    other.up.refresh(response)
    other.sent_sdp = relayed
    try:
        return 200, await session.answer(other.side, response.body)
    except UNUSABLE as exc:
        log.info("call %s: UPDATE answer unusable: %s", leg.call_id, exc)
        return 488, b""
