"""`cloudpbx sup tasks list|run`: the scheduler's jobs and their recorded runs, and one run on demand (with the time
it acts for, e.g. to send today's threshold alerts now, or to replay a period)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from cloudpbx.cli.sup import fail, out, run
from cloudpbx.platform import Platform
from cloudpbx.scheduler import Outcome
from cloudpbx.scheduler.jobs import as_datetime, as_gregorian
from cloudpbx.scheduler.runs import Record, recent

tasks_app = typer.Typer(help="Periodic jobs: their runs, and a run on demand", no_args_is_help=True)


def _when(gregorian: int | None) -> str:
    return as_datetime(gregorian).strftime("%Y-%m-%d %H:%M:%S") if gregorian else ""


def parse_now(text: str) -> int:
    """ISO 8601 (UTC unless an offset is given) or Gregorian seconds."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--now must be ISO 8601 (2026-12-07T09:00:00Z) or Gregorian seconds, not {text!r}")
    return as_gregorian(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@tasks_app.command("list")
def list_runs(
    ctx: typer.Context,
    job: str | None = typer.Option(None, "--job", help="Only this job's runs"),
    limit: int = typer.Option(50, "--limit", min=1, max=10000, help="How many runs, newest first"),
) -> None:
    """The jobs, then their latest runs (every process sharing the database records its runs here)."""

    async def action(platform: Platform) -> tuple[list, list[Record]]:
        jobs = list(platform.scheduler.jobs.values())
        if job is not None and job not in platform.scheduler.jobs:
            fail(f"no job {job!r}; jobs: {', '.join(platform.scheduler.jobs)}")
        return jobs, await recent(platform.store, limit, job)

    jobs, records = run(ctx, action)
    known = Table(title="jobs")
    for column in ("job", "schedule", "what"):
        known.add_column(column, no_wrap=True)
    for each in jobs:
        known.add_row(each.name, str(each.schedule), each.description)
    out.print(known)
    table = Table(title="runs")
    for column in ("job", "period", "status", "node", "attempts", "started", "finished", "error"):
        table.add_column(column, no_wrap=column != "error")
    for r in records:
        table.add_row(
            r.job, r.period, r.status, r.node, str(r.attempts), _when(r.started), _when(r.finished), r.error or ""
        )
    out.print(table)


@tasks_app.command("run")
def run_job(
    ctx: typer.Context,
    job: str,
    now: str | None = typer.Option(None, "--now", help="The time the run acts for (default: now)"),
) -> None:
    """Run a job's period now, here, unless a process has run (or is running) it: the same lease as the servers."""
    at = parse_now(now) if now else None

    async def action(platform: Platform) -> Outcome:
        if job not in platform.scheduler.jobs:
            fail(f"no job {job!r}; jobs: {', '.join(platform.scheduler.jobs)}")
        return await platform.scheduler.run_once(job, at)

    outcome = run(ctx, action)
    if not outcome.taken:
        out.print(f"{job} {outcome.period}: already run or running elsewhere", highlight=False)
    elif outcome.error:
        fail(f"{job} {outcome.period} failed: {outcome.error}")
    else:
        out.print(f"{job} {outcome.period}: done", highlight=False)
