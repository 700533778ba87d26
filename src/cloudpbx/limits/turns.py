"""Turns per account inside one process: calls of the same account wait here, in memory, instead of each holding a
database connection while it waits on the account's row lock. The row lock still makes the count exact across
processes; this only keeps one process from spending its connection pool on waiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager


class Turns:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # account id → (lock, callers holding or awaiting it)

    @asynccontextmanager
    async def of(self, account_ids: Iterable[str]) -> AsyncIterator[None]:
        """Hold the turn of every account, taken in id order so two callers never wait on each other."""
        ids = sorted(set(account_ids))
        async with AsyncExitStack() as stack:
            for account_id in ids:
                stack.push_async_callback(self._leave, account_id)
                await stack.enter_async_context(self._enter(account_id))
            yield

    def _enter(self, account_id: str) -> asyncio.Lock:
        lock, users = self._locks.get(account_id) or (asyncio.Lock(), 0)
        self._locks[account_id] = (lock, users + 1)
        return lock

    async def _leave(self, account_id: str) -> None:
        lock, users = self._locks[account_id]
        if users == 1:
            del self._locks[account_id]
        else:
            self._locks[account_id] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
