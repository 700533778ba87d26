"""The per-minute cost of a call (KAZOO's `kapps_call_util:calculate_call`), in integer units.

A call no longer than the no-charge time is free. Otherwise it is billed the minimum, and past the minimum in whole
increments, at the per-minute rate, plus the surcharge; then the discount. The only rounding is the last step:
the exact amount is rounded half up to a whole unit, so no fraction is lost or invented in between.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_INCREMENT_S = 60


@dataclass(frozen=True, slots=True)
class Pricing:
    """What the formula reads of a rate: per-minute cost and surcharge in units, times in seconds."""

    rate_cost: int
    rate_increment: int = DEFAULT_INCREMENT_S
    rate_minimum: int = 0
    rate_surcharge: int = 0
    rate_nocharge_time: int = 0


def billed_seconds(pricing: Pricing, seconds: int) -> int:
    """The seconds charged for a call of `seconds`: 0 within the no-charge time, else the minimum and the
    increments started past it."""
    if seconds <= pricing.rate_nocharge_time:
        return 0
    minimum = pricing.rate_minimum
    if seconds <= minimum:
        return minimum
    increment = pricing.rate_increment if pricing.rate_increment > 0 else DEFAULT_INCREMENT_S
    return minimum + -(-(seconds - minimum) // increment) * increment


def call_cost(pricing: Pricing, seconds: int, discount_percent: int = 0) -> int:
    """Units charged for a call of `seconds` at `pricing`, less `discount_percent` (0..100)."""
    if not 0 <= discount_percent <= 100:
        raise ValueError(f"discount {discount_percent}% is not within 0..100")
    billed = billed_seconds(pricing, seconds)
    if billed == 0:
        return 0
    # exact amount = (surcharge + billed/60 × rate) × (100 - discount)/100, as one fraction over 6000
    numerator = (pricing.rate_surcharge * 60 + billed * pricing.rate_cost) * (100 - discount_percent)
    return _half_up(numerator, 6000)


def base_cost(pricing: Pricing) -> int:
    """Units a call of the minimum length costs, no-charge time aside (KAZOO's `Base-Cost` of a rated number)."""
    return _half_up(pricing.rate_surcharge * 60 + pricing.rate_minimum * pricing.rate_cost, 60)


def _half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)
