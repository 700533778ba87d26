"""A per-minute call's meter lets its call go once the call is over: the leg holds the meter and the meter the leg's
cut-off, and a cycle left between them made every per-minute call cyclic garbage that only Python's full
collections freed (a 0.4 s stall every half minute at 200 calls/s, which SIPp saw as retransmissions)."""

from __future__ import annotations

import gc
import weakref
from types import SimpleNamespace

from cloudpbx.limits.metering import Meter
from cloudpbx.limits.per_minute import Charge


class Leg:
    """What holds a meter: the carrier leg, whose cut-off the meter keeps while the call is up."""

    def __init__(self, meter: Meter):
        self.meter = meter

    def cut_off(self, cause: str) -> None:
        raise AssertionError(cause)


class Biller:
    def __init__(self) -> None:
        self.billed: list[tuple[str, int]] = []

    async def bill(self, charge: Charge, seconds: int) -> None:
        self.billed.append((charge.call_id, seconds))


async def unmarked(answer) -> None:
    raise ConnectionError("the mark on the leases fails: it is optional")


async def test_an_ended_call_is_freed_without_a_full_collection():
    charge = Charge("c1", "k1", "acct", None, True, False, "outbound", "+1", "+44", "uk", 6000, 6, 6, 0, 0)
    biller = Biller()
    metering = SimpleNamespace(live={}, biller=biller, answers=SimpleNamespace(submit=unmarked))
    meter = Meter(metering, charge, ("acct",))  # type: ignore[arg-type]
    leg = Leg(meter)
    meter.answered(100.0, "leg-1", leg.cut_off)
    assert metering.live == {"k1": meter}, "the crawler sees the answered call"
    meter.settle(100.0, 130.0)
    await meter.close()
    assert biller.billed == [("c1", 30)] and metering.live == {}
    gone = weakref.ref(leg)
    gc.disable()
    try:
        del leg, meter
        assert gone() is None, "freed by reference counting alone, as soon as the call lets it go"
    finally:
        gc.enable()
