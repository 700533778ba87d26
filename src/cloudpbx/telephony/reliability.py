"""Where a leg stands with reliable provisional responses (RFC 3262), as a machine of its own beside its INVITE
usage state: off until 100rel is in use on the leg, then idle or awaiting an acknowledgement.

On the caller's leg we send reliable 18x and await the phone's PRACK (failed: it never came within 64*T1, and the
INVITE is refused); on a callee's leg the phone sends them and we await the 200 to our PRACK. An offer in an early
dialog (UPDATE, RFC 3311) may go to a leg only while it is idle: its early offer/answer is then complete.
"""

from __future__ import annotations

from enum import Enum


class Prack(Enum):
    OFF = "off"  # 100rel not in use on the leg: provisional responses are sent and taken unreliably
    IDLE = "idle"  # in use; every reliable provisional response is acknowledged
    AWAITING = "awaiting"  # one is out: the caller's PRACK, or the 200 to ours, is still to come
    FAILED = "failed"  # the caller never PRACKed it (64*T1): its INVITE was refused


PRACK_TRANSITIONS: dict[Prack, frozenset[Prack]] = {
    Prack.OFF: frozenset((Prack.IDLE, Prack.AWAITING)),
    Prack.IDLE: frozenset((Prack.AWAITING,)),
    Prack.AWAITING: frozenset((Prack.IDLE, Prack.AWAITING, Prack.FAILED)),  # the next one queued goes out
    Prack.FAILED: frozenset(),
}
