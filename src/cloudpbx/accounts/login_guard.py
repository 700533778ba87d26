"""Throttling of failed logins, shared by every process on the database, and the audit of failed logins.

Every attempt is charged to its (account, client address) counter before the credentials are checked, in one
transaction that locks the counter, so concurrent attempts (from any process) cannot all slip past it; a success then
takes its own charge back. Five failures are free; from then on each one locks that address out of that account for
1 s, 2 s, 4 s ... up to 15 minutes. An attempt while locked out is refused unchecked (429 + Retry-After) and counts as
one more failure. Failures are forgotten an hour after the last one.
Per account: when 20 failures from any addresses fall within 15 minutes, the account is guarded and every address
gets one free failure instead of five. An address with no failures of its own is never refused, so a distributed
guesser is slowed to one guess per address and backoff step, while the real user (from an address that is not
guessing) can still log in: the account-wide rule tightens each address and locks out none.
"""

from __future__ import annotations

import math
import time

from cloudpbx.errors import Throttled
from cloudpbx.ids import random_hex
from cloudpbx.store import Store, gregorian_now, is_id
from cloudpbx.store import login_throttle as table
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


def _guarded(account: Counter | None, now: float) -> bool:
    return account is not None and account.locked_until > now


async def check(store: Store, account_id: str, client: str) -> None:
    """Charge an attempt to the address, or refuse it (429 + Retry-After) while the address is locked out."""
    now = time.time()
    async with store.write() as tx:
        account = (await table.counters(tx, account_id, (WHOLE_ACCOUNT,))).get(WHOLE_ACCOUNT)
        mine = await table.locked_counter(tx, account_id, client)
        count = (mine.failures if now - mine.last_failure <= FORGET_S else 0) + 1
        delay = _backoff(count, FREE_WHEN_GUARDED if _guarded(account, now) else FREE)
        locked = mine.locked_until > now
        locked_until = max(mine.locked_until, now + delay) if delay else mine.locked_until
        await table.put_counter(tx, account_id, client, Counter(count, now, locked_until))
    if locked:
        wait = max(1, math.ceil(locked_until - now))
        raise Throttled({"message": "too many failed logins; retry later", "retry_after": wait}, retry_after=wait)


async def succeeded(store: Store, account_id: str, client: str) -> None:
    """Take back the charge of an attempt that proved right: successes are not failures."""
    async with store.write() as tx:
        mine = await table.locked_counter(tx, account_id, client)
        if mine.failures <= 1:
            await table.forget(tx, account_id, client)
        else:
            await table.put_counter(tx, account_id, client, mine._replace(failures=mine.failures - 1))


async def failed(store: Store, account_id: str, client: str, method: str, reason: str) -> None:
    """Count a checked failure against the whole account, and keep it in the account's audit."""
    now = time.time()
    async with store.write() as tx:
        if is_id(account_id):
            created = gregorian_now()
            await table.add_failure(
                tx,
                account_id,
                random_hex(16),
                created,
                {"auth_type": method, "client_ip": client, "status": "failed", "message": reason},
            )
            await table.drop_failures(tx, account_id, created - AUDIT_KEPT_S)
        account = await table.locked_counter(tx, account_id, WHOLE_ACCOUNT)
        count = (account.failures if now - account.last_failure <= ACCOUNT_WINDOW_S else 0) + 1
        guarded_until = now + ACCOUNT_WINDOW_S if count >= ACCOUNT_ALERT else account.locked_until
        await table.put_counter(tx, account_id, WHOLE_ACCOUNT, Counter(count, now, guarded_until))
        if now >= _next_sweep[0]:
            _next_sweep[0] = now + SWEEP_EVERY_S
            await table.forget_stale(tx, now - FORGET_S)


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
