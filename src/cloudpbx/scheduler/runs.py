"""The `task_runs` rows: taking a period's run (insert, or retake an expired lease), renewing, finishing, listing.

Every change is one conditional statement, so of several processes racing for a run exactly one row changes and
exactly one process runs it, on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cloudpbx.store import SYSTEM, Store, gregorian_now
from cloudpbx.store.tables import task_runs

T = task_runs.c
RUNNING, DONE, FAILED = "running", "done", "failed"
MAX_ATTEMPTS = 5  # a failing period's run is retried this many times in all, with backoff


class Record(NamedTuple):
    job: str
    period: str
    status: str
    node: str
    attempts: int
    started: int
    finished: int | None
    lease_until: int
    cursor: str | None
    error: str | None


def _key(job: str, period: str):
    return and_(T.account_id == SYSTEM, T.job == job, T.period == period)


async def take(store: Store, job: str, period: str, node: str, lease_s: int) -> Record | None:
    """This period's run for `node`: a new row, or a row whose holder's lease expired (a crashed or failed run);
    None when another process holds it or it is done."""
    now = gregorian_now()
    make = pg_insert if store.dialect == "postgresql" else sqlite_insert
    async with store.write() as tx:
        inserted = await tx.conn.execute(
            make(task_runs)
            .values(
                account_id=SYSTEM,
                job=job,
                period=period,
                status=RUNNING,
                node=node,
                attempts=1,
                started=now,
                lease_until=now + lease_s,
            )
            .on_conflict_do_nothing()
        )
        if inserted.rowcount != 1:
            retaken = await tx.conn.execute(
                update(task_runs)
                .where(
                    _key(job, period),
                    T.lease_until < now,
                    or_(T.status == RUNNING, and_(T.status == FAILED, T.attempts < MAX_ATTEMPTS)),
                )
                .values(status=RUNNING, node=node, attempts=T.attempts + 1, lease_until=now + lease_s, finished=None)
            )
            if retaken.rowcount != 1:
                return None
        row = (await tx.conn.execute(select(task_runs).where(_key(job, period)))).one()
    return _record(row)


async def renew(store: Store, job: str, period: str, node: str, lease_s: int, cursor: str | None = None) -> bool:
    """Push the lease on (and record `cursor`); False when this node no longer holds the run."""
    values: dict = {"lease_until": gregorian_now() + lease_s}
    if cursor is not None:
        values["cursor"] = cursor
    async with store.write() as tx:
        changed = await tx.conn.execute(
            update(task_runs).where(_key(job, period), T.node == node, T.status == RUNNING).values(**values)
        )
    return changed.rowcount == 1


async def finish(store: Store, job: str, period: str, node: str, error: str | None, retry_s: int) -> None:
    """Done, or failed with its error (retaken after `retry_s` while attempts remain)."""
    now = gregorian_now()
    status = DONE if error is None else FAILED
    async with store.write() as tx:
        await tx.conn.execute(
            update(task_runs)
            .where(_key(job, period), T.node == node, T.status == RUNNING)
            .values(status=status, finished=now, error=error, lease_until=now + retry_s)
        )


async def abandon(store: Store, job: str, current: str) -> None:
    """Close the runs of past periods whose holder died: nobody retakes a period once the next has begun."""
    now = gregorian_now()
    async with store.write() as tx:
        await tx.conn.execute(
            update(task_runs)
            .where(T.account_id == SYSTEM, T.job == job, T.status == RUNNING, T.lease_until < now, T.period != current)
            .values(status=FAILED, finished=now, error="abandoned: its process stopped before the period ended")
        )


async def recent(store: Store, limit: int, job: str | None = None) -> list[Record]:
    query = select(task_runs).where(T.account_id == SYSTEM)
    if job is not None:
        query = query.where(T.job == job)
    query = query.order_by(T.started.desc(), T.job, T.period.desc()).limit(limit)
    async with store.read() as tx:
        return [_record(row) for row in await tx.conn.execute(query)]


async def prune(store: Store, before: int) -> None:
    """Forget finished runs started before `before` (the table would otherwise grow by every period)."""
    async with store.write() as tx:
        await tx.conn.execute(delete(task_runs).where(T.started < before, T.status != RUNNING))


def _record(row) -> Record:
    m = row._mapping
    return Record(*(m[name] for name in Record._fields))
