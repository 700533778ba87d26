"""Writes of the call path that many calls make at about the same time, committed together: the first one waits
`gather_s` (20 ms) for others, then up to `batch` of them go in one transaction, so hundreds a second take the
database's write lock a few times a second rather than once each. Each caller awaits its own item's outcome."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")  # its result

Write = Callable[[list[I]], Awaitable[Sequence[R | BaseException]]]


class GroupCommit(Generic[I, R]):
    """`submit` an item; `write` takes a batch and answers each item with its result or its own exception."""

    def __init__(self, write: Write[I, R], name: str, gather_s: float = 0.02, batch: int = 500):
        self.write, self.name, self.gather_s, self.batch = write, name, gather_s, batch
        self._pending: deque[tuple[I, asyncio.Future[R]]] = deque()
        self._task: asyncio.Task | None = None

    async def submit(self, item: I) -> R:
        """The item's result once its transaction committed; raises its failure, or the whole transaction's."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return await done

    async def _run(self) -> None:
        while self._pending:
            await asyncio.sleep(self.gather_s)
            batch = [self._pending.popleft() for _ in range(min(self.batch, len(self._pending)))]
            try:
                results = await self.write([item for item, _ in batch])
            except Exception as exc:  # the whole transaction failed: each caller hears it
                log.exception("%d %s not written", len(batch), self.name)
                for _, done in batch:
                    done.set_exception(exc)
                continue
            for (_, done), result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    done.set_exception(result)
                else:
                    done.set_result(result)
