"""Schedules cut time into periods every process names alike: interval slots aligned on the epoch, UTC months."""

from __future__ import annotations

from datetime import UTC, datetime

from cloudpbx.scheduler import Every, Monthly
from cloudpbx.scheduler.jobs import as_gregorian


def at(*parts: int) -> int:
    return as_gregorian(datetime(*parts, tzinfo=UTC))  # type: ignore[misc]


def test_interval_periods_are_aligned_slots():
    quarter = Every(900)
    assert quarter.period(at(2026, 12, 7, 9, 14, 59)) == "2026-12-07T09:00:00Z"
    assert quarter.period(at(2026, 12, 7, 9, 15)) == "2026-12-07T09:15:00Z"
    assert quarter.next_start(at(2026, 12, 7, 9, 14, 59)) == at(2026, 12, 7, 9, 15)


def test_monthly_periods_roll_over_the_year():
    month = Monthly()
    assert month.period(at(2026, 12, 31, 23, 59, 59)) == "2026-12"
    assert month.next_start(at(2026, 12, 31, 23, 59, 59)) == at(2027, 1, 1)
    assert month.next_start(at(2027, 1, 1)) == at(2027, 2, 1)
