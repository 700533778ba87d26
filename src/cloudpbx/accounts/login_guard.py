"""Throttling of failed logins, shared by every process on the database, and the audit of failed logins.

Per (account, client address): five failures are free, then each failure locks that address out of that account for
1 s, 2 s, 4 s ... up to 15 minutes; an attempt while locked out is refused unchecked (429 + Retry-After) and counts
as one more failure. Failures are forgotten an hour after the last one, or when the address logs in.
Per account: when 20 failures from any addresses fall within 15 minutes, the account is guarded and every address
gets one free failure instead of five. An address with no failures of its own is never refused, so a distributed
guesser is slowed to one guess per address and backoff step, while the real user (from an address that is not
guessing) can still log in: the account-wide rule tightens each address and locks out none.
"""

from __future__ import annotations

import math
import time

from cloudpbx.errors import Throttled
from cloudpbx.store import Store, gregorian_now, is_id
from cloudpbx.store import login_throttle as table
from cloudpbx.store.ids import random_hex
from cloudpbx.store.login_throttle import Counter

FREE = 5
FREE_WHEN_GUARDED = 1
BASE_S = 1.0
MAX_S = 900.0
FORGET_S = 3600.0
ACCOUNT_ALERT = 20
ACCOUNT_WINDOW_S = 900.0
AUDIT_KEPT_S = 30 * 86400
SWEEP_EVERY_S = 600.0
WHOLE_ACCOUNT = "*"  # the client of the per-account counter
_next_sweep = [0.0]


def _backoff(failures: int, free: int) -> float:
    return 0.0 if failures < free else min(BASE_S * 2 ** min(failures - free, 20), MAX_S)


def _refusal(locked_until: float, now: float) -> Throttled:
    wait = max(1, math.ceil(locked_until - now))
    return Throttled({"message": "too many failed logins; retry later", "retry_after": wait}, retry_after=wait)


def _guarded(account: Counter | None, now: float) -> bool:
    return account is not None and account.locked_until > now


async def check(store: Store, account_id: str, client: str) -> bool:
    """Refuse an address locked out of the account (and count the attempt); True when it has failures to forget."""
    now = time.time()
    async with store.read() as tx:
        mine = (await table.counters(tx, account_id, (client,))).get(client)
    if mine is None or now - mine.last_failure > FORGET_S:
        return mine is not None
    if mine.locked_until > now:
        raise _refusal(await _strike(store, account_id, client, now, whole_account=False), now)
    return True


async def failed(store: Store, account_id: str, client: str, method: str, reason: str) -> None:
    """Count a failed login for the address and the account, and keep it in the account's audit."""
    now = time.time()
    audit = {"auth_type": method, "client_ip": client, "status": "failed", "message": reason}
    await _strike(store, account_id, client, now, audit=audit if is_id(account_id) else None)
    if now >= _next_sweep[0]:
        _next_sweep[0] = now + SWEEP_EVERY_S
        async with store.write() as tx:
            await table.forget_stale(tx, now - FORGET_S)


async def succeeded(store: Store, account_id: str, client: str) -> None:
    async with store.write() as tx:
        await table.forget(tx, account_id, client)


async def _strike(store: Store, account_id: str, client: str, now: float, audit: dict | None = None,
                  whole_account: bool = True) -> float:
    """One more failure of the address (and of the account, for checked credentials); returns its lock's end."""
    async with store.write() as tx:
        if audit is not None:
            created = gregorian_now()
            await table.add_failure(tx, account_id, random_hex(16), created, audit)
            await table.drop_failures(tx, account_id, created - AUDIT_KEPT_S)
        if whole_account:
            account = await table.locked_counter(tx, account_id, WHOLE_ACCOUNT)
            count = (account.failures if now - account.last_failure <= ACCOUNT_WINDOW_S else 0) + 1
            account = Counter(count, now, now + ACCOUNT_WINDOW_S if count >= ACCOUNT_ALERT else account.locked_until)
            await table.put_counter(tx, account_id, WHOLE_ACCOUNT, account)
        else:
            account = (await table.counters(tx, account_id, (WHOLE_ACCOUNT,))).get(WHOLE_ACCOUNT)
        mine = await table.locked_counter(tx, account_id, client)
        count = (mine.failures if now - mine.last_failure <= FORGET_S else 0) + 1
        free = FREE_WHEN_GUARDED if _guarded(account, now) else FREE
        delay = _backoff(count, free)
        locked_until = max(mine.locked_until, now + delay) if delay else mine.locked_until
        await table.put_counter(tx, account_id, client, Counter(count, now, locked_until))
    return locked_until


async def attempts(store: Store, account_id: str, start: str | None, limit: int | None) -> list[dict]:
    """The account's audit of failed logins, newest first; each row's `_id` is the key a page may start at."""
    key = None
    if start:
        created, _, failure_id = start.partition(":")
        key = (int(created), failure_id) if created.isdigit() else (0, "")
    async with store.read() as tx:
        rows = await table.list_failures(tx, account_id, key, limit or 10_000)
    return [row | {"_id": f"{row['timestamp']}:{row['id']}"} for row in rows]


async def attempt(store: Store, account_id: str, failure_id: str) -> dict | None:
    async with store.read() as tx:
        return await table.get_failure(tx, account_id, failure_id)
