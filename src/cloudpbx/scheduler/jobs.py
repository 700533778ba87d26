"""What a periodic job is: a name, a schedule that cuts time into periods, and the coroutine that runs one period."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from cloudpbx.ids import GREGORIAN_OFFSET


def as_datetime(gregorian: int) -> datetime:
    return datetime.fromtimestamp(gregorian - GREGORIAN_OFFSET, UTC)


def as_gregorian(moment: datetime) -> int:
    return int(moment.timestamp()) + GREGORIAN_OFFSET


class Schedule(Protocol):
    def period(self, now: int) -> str:
        """The name of the period `now` (Gregorian seconds) falls in: one run per job and period."""
        ...

    def next_start(self, now: int) -> int:
        """When the period after the one of `now` starts."""
        ...


@dataclass(frozen=True)
class Every:
    """Periods of `seconds`, aligned on the epoch so every process cuts them alike."""

    seconds: int

    def __str__(self) -> str:
        return f"every {self.seconds} s"

    def period(self, now: int) -> str:
        start = now - now % self.seconds
        return as_datetime(start).strftime("%Y-%m-%dT%H:%M:%SZ")

    def next_start(self, now: int) -> int:
        return now - now % self.seconds + self.seconds


@dataclass(frozen=True)
class Monthly:
    """Calendar months (UTC)."""

    def __str__(self) -> str:
        return "monthly"

    def period(self, now: int) -> str:
        return as_datetime(now).strftime("%Y-%m")

    def next_start(self, now: int) -> int:
        moment = as_datetime(now)
        year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        return as_gregorian(datetime(year, month, 1, tzinfo=UTC))


class Run(Protocol):
    """One period's run as a job sees it: the time it runs for, and where a retaken run resumes."""

    job: str
    period: str
    now: int  # Gregorian seconds the job acts for (settable: `cloudpbx sup tasks run JOB --now ...`)
    cursor: str | None  # what the last checkpoint of this period's run recorded (None: from the start)

    async def checkpoint(self, cursor: str) -> None:
        """Record progress, so a run retaken after a crash resumes after it; raises if the lease was lost."""
        ...


@dataclass(frozen=True)
class Job:
    name: str
    schedule: Schedule
    work: Callable[[Run], Awaitable[None]]
    description: str
