"""Turns per account in one process: callers of one account go one at a time, others do not wait, nothing is kept
once every caller has left (also one cancelled while waiting)."""

from __future__ import annotations

import asyncio

import pytest

from cloudpbx.limits.turns import Turns


async def settle(predicate) -> None:
    """Let the other tasks run until `predicate` holds (bounded: a broken lock fails instead of hanging)."""
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0)
    pytest.fail("the tasks never reached the expected state")


async def test_callers_of_one_account_take_turns_and_other_accounts_do_not_wait():
    turns, inside, most = Turns(), set(), 0
    gate = asyncio.Event()

    async def call(name: str, accounts: tuple[str, ...]) -> None:
        nonlocal most
        async with turns.of(accounts):
            inside.add(name)
            most = max(most, len([n for n in inside if n.startswith("a")]))
            await gate.wait()
            inside.discard(name)

    tasks = [asyncio.create_task(call(f"a{i}", ("acct", "reseller"))) for i in range(5)]
    other = asyncio.create_task(call("b", ("other",)))
    await settle(lambda: "b" in inside and any(n.startswith("a") for n in inside))
    assert len([n for n in inside if n.startswith("a")]) == 1, "one caller of the account at a time"
    gate.set()
    await asyncio.gather(*tasks, other)
    assert most == 1 and len(turns) == 0


async def test_a_caller_cancelled_while_waiting_leaves_nothing_behind():
    turns = Turns()
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with turns.of(["b"]):
            held.set()
            await release.wait()

    async def waiter() -> None:
        async with turns.of(["b", "a"]):  # takes a's turn, then waits for b's
            pytest.fail("the waiter was cancelled before its turn")

    first = asyncio.create_task(holder())
    await held.wait()
    second = asyncio.create_task(waiter())
    await settle(lambda: len(turns) >= 2)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    release.set()
    await first
    assert len(turns) == 0
