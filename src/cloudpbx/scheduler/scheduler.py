"""The scheduler of one process: every tick it tries to take the current period's run of each job (`runs.take`),
runs what it took with a lease it keeps renewing, and records how the run ended. Several processes on one database
each run this loop; the `task_runs` row decides which of them runs a period, so each period runs once.

Settings (system config `scheduler`, read every tick): `tick_s` (10), `lease_s` (60), `enabled` (true), and per job
`jobs.<name>.interval_s` (interval jobs) and `jobs.<name>.enabled`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from cloudpbx.ids import GREGORIAN_OFFSET
from cloudpbx.scheduler import runs
from cloudpbx.scheduler.jobs import Every, Job, Schedule
from cloudpbx.store import SYSTEM, Store, gregorian_now

log = logging.getLogger("cloudpbx.scheduler")

CONFIG = "scheduler"
KEEP_RUNS_S = 7 * 86400
PRUNE_EVERY_S = 60.0


class LeaseLost(RuntimeError):
    """Another process took this run over (this one stalled past its lease): stop working on it."""


@dataclass
class Outcome:
    """How `run_once` went: `taken` False when another process held or had done the period's run."""

    job: str
    period: str
    taken: bool
    error: str | None = None


@dataclass
class _Run:
    """A run this process holds (the `Run` a job is handed)."""

    store: Store
    node: str
    lease_s: int
    job: str
    period: str
    now: int
    cursor: str | None

    async def checkpoint(self, cursor: str) -> None:
        if not await runs.renew(self.store, self.job, self.period, self.node, self.lease_s, cursor):
            raise LeaseLost(f"{self.job} {self.period}")
        self.cursor = cursor


def _setting(config: dict | None, key: str, default: Any) -> Any:
    node: Any = {**(config or {}), **((config or {}).get("default") or {})}  # under `default`, or top level
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _positive(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1 else default


class Scheduler:
    def __init__(self, store: Store, node: str):
        self.store = store
        self.node = node
        self.jobs: dict[str, Job] = {}
        self._running: dict[str, asyncio.Task] = {}
        self._loop: asyncio.Task | None = None
        self._pruned = 0.0

    def register(self, job: Job) -> None:
        self.jobs[job.name] = job

    async def _config(self) -> dict | None:
        return await self.store.find(SYSTEM, CONFIG)

    def _schedule(self, job: Job, config: dict | None) -> Schedule:
        if isinstance(job.schedule, Every):
            return Every(_positive(_setting(config, f"jobs.{job.name}.interval_s", None), job.schedule.seconds))
        return job.schedule

    async def run_once(self, name: str, now: int | None = None) -> Outcome:
        """Take and run the period of `now` (default: the clock) of one job, here and now, if no process has."""
        job = self.jobs[name]
        config = await self._config()
        now = gregorian_now() if now is None else now
        period = self._schedule(job, config).period(now)
        lease_s = _positive(_setting(config, "lease_s", None), 60)
        record = await runs.take(self.store, name, period, self.node, lease_s)
        if record is None:
            return Outcome(name, period, taken=False)
        run = _Run(self.store, self.node, lease_s, name, period, now, record.cursor)
        error = await self._work(job, run, record.attempts)
        return Outcome(name, period, taken=True, error=error)

    async def _work(self, job: Job, run: _Run, attempt: int) -> str | None:
        """Run the job while renewing its lease; record how it ended. A lost lease stops the work, records nothing."""
        work = asyncio.ensure_future(job.work(run))
        beat = asyncio.ensure_future(self._heartbeat(run, work))
        try:
            await work
            error = None
        except LeaseLost:
            log.warning("job %s %s: another process took the run over", job.name, run.period)
            return "lease lost"
        except asyncio.CancelledError:
            if beat.done() and beat.result() is False:
                return "lease lost"
            raise
        except Exception as exc:
            log.exception("job %s %s failed (attempt %d)", job.name, run.period, attempt)
            error = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            beat.cancel()
        await runs.finish(self.store, job.name, run.period, self.node, error, retry_s=min(60 * 2**attempt, 3600))
        return error

    async def _heartbeat(self, run: _Run, work: asyncio.Future) -> bool:
        while True:
            await asyncio.sleep(max(run.lease_s / 3, 0.5))
            try:
                held = await runs.renew(self.store, run.job, run.period, self.node, run.lease_s)
            except Exception:
                log.exception("job %s: could not renew its lease", run.job)
                continue
            if not held:
                work.cancel()
                return False

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._ticks())

    async def stop(self) -> None:
        tasks = [t for t in (self._loop, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _ticks(self) -> None:
        while True:
            tick_s = 10
            config = None
            try:
                config = await self._config()
                tick_s = _positive(_setting(config, "tick_s", None), 10)
                if _setting(config, "enabled", True) is not False:
                    self._start_due(config)
                await self._tidy(config)
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(self._until_next(config, tick_s))

    def _until_next(self, config: dict | None, tick_s: int) -> float:
        """Seconds to the next period start of any job (at most `tick_s`, for retaking expired leases), plus a
        random fraction of a second: processes wake together at a period's start and a different one may win."""
        now = time.time() + GREGORIAN_OFFSET
        starts = [self._schedule(job, config).next_start(int(now)) for job in self.jobs.values()]
        return max(min([tick_s, *(start - now for start in starts)]), 0.0) + random.uniform(0.0, 0.25)

    def _start_due(self, config: dict | None) -> None:
        """Try each enabled job not already running here; taking the run decides whether anything happens."""
        for name, _job in self.jobs.items():
            if name in self._running or _setting(config, f"jobs.{name}.enabled", True) is False:
                continue
            task = asyncio.create_task(self.run_once(name))
            self._running[name] = task
            task.add_done_callback(partial(self._ended, name))

    def _ended(self, name: str, task: asyncio.Task) -> None:
        self._running.pop(name, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("job %s: %s", name, task.exception())

    async def _tidy(self, config: dict | None) -> None:
        """Every minute: close past periods' runs left by dead processes, forget week-old runs."""
        if time.monotonic() - self._pruned < PRUNE_EVERY_S:
            return
        self._pruned = time.monotonic()
        now = gregorian_now()
        for job in self.jobs.values():
            await runs.abandon(self.store, job.name, self._schedule(job, config).period(now))
        await runs.prune(self.store, now - KEEP_RUNS_S)
