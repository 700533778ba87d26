"""The stages of a transfer (`telephony/transfer.py` `STAGES`), driven without a server: every legal move is
taken, every other one refused, and the transferee hanging up is what a transfer's new call waits on."""

from __future__ import annotations

import asyncio

import pytest

from cloudpbx.sip.message import Request
from cloudpbx.telephony import causes
from cloudpbx.telephony.leg import Leg
from cloudpbx.telephony.refer import Referral
from cloudpbx.telephony.transfer import STAGES, Stage, Transfer
from tests.telephony.test_leg_states import S, plain_leg


class Pair:
    """The two legs of a conversation, as a transfer first asks for them."""

    def __init__(self, a: Leg, b: Leg):
        self.a, self.b = a, b

    def other(self, leg: Leg) -> Leg:
        return self.b if leg is self.a else self.a


def transfer(refer_to: str = "<sip:3001@office.example>") -> Transfer:
    transferee, transferor = plain_leg(S.CONFIRMED), plain_leg(S.CONFIRMED)
    request = Request("REFER", "sip:bob@127.0.0.1")
    request.add("Refer-To", refer_to)
    return Transfer(transferor.ctx, Pair(transferee, transferor), transferor, Referral.parse(request))


@pytest.mark.parametrize(("was", "to"), [(was, to) for was, tos in STAGES.items() for to in sorted(tos, key=str)])
async def test_every_legal_stage_move_is_taken(was, to):
    moving = transfer()
    moving.stage = was
    moving.move(to)
    assert moving.stage is to
    assert moving.over is (to in (Stage.CONNECTED, Stage.FAILED))


@pytest.mark.parametrize(("was", "to"), [(was, to) for was in Stage for to in Stage if to not in STAGES[was]])
async def test_an_illegal_stage_move_is_refused(was, to):
    moving = transfer()
    moving.stage = was
    with pytest.raises(ValueError, match="no move"):
        moving.move(to)
    assert moving.stage is was


async def test_a_transfer_starts_routing_and_knows_its_kind():
    blind = transfer()
    assert (blind.stage, blind.routing, blind.kind, blind.cause) == (Stage.ROUTING, True, "blind", "BLIND_TRANSFER")
    attended = transfer("<sip:3001@office.example?Replaces=c%40h%3Bto-tag%3Dt%3Bfrom-tag%3Df>")
    assert (attended.kind, attended.cause) == ("attended", "ATTENDED_TRANSFER")


async def test_the_transferee_hanging_up_ends_the_wait_for_the_target():
    waiting = transfer()
    assert not waiting.gone.done()
    waiting.transferee.end(causes.NORMAL_CLEARING, 200, "recv_bye")
    await asyncio.sleep(0)
    assert waiting.gone.done()
