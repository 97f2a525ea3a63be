"""The cap on octets in flight (budget.py): what does not fit waits, and goes when room is made."""

from __future__ import annotations

import asyncio

import pytest

from relay_smtp.budget import ByteBudget


def test_what_does_not_fit_waits_for_room() -> None:
    async def scenario() -> list[str]:
        budget = ByteBudget(10)
        order: list[str] = []
        first_in = asyncio.Event()
        release_first = asyncio.Event()

        async def first() -> None:
            async with budget.reserve(8):
                order.append("first in")
                first_in.set()
                await release_first.wait()
            order.append("first out")

        async def second() -> None:
            await first_in.wait()
            async with budget.reserve(5):
                order.append("second in")

        async def small() -> None:
            await first_in.wait()
            async with budget.reserve(2):  # fits beside the first
                order.append("small in")

        tasks = [asyncio.create_task(c) for c in (first(), second(), small())]
        await first_in.wait()
        for _ in range(5):
            await asyncio.sleep(0)
        assert order == ["first in", "small in"]
        release_first.set()
        await asyncio.gather(*tasks)
        assert budget.used == 0
        return order

    assert asyncio.run(scenario()) == ["first in", "small in", "first out", "second in"]


def test_a_message_larger_than_the_budget_goes_alone() -> None:
    async def scenario() -> int:
        budget = ByteBudget(10)
        async with budget.reserve(1_000):
            return budget.used

    assert asyncio.run(scenario()) == 10


def test_the_budget_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ByteBudget(0)
