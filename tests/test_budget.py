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


def test_half_received_messages_cannot_wait_for_each_other_forever() -> None:
    """When every message holding octets waits for more, the last one to find this goes on beyond
    the cap (and alone), so that one is always finished."""

    async def scenario() -> tuple[int, int]:
        budget = ByteBudget(10)
        older, younger = budget.charge(), budget.charge()
        assert older.try_grow(5) and younger.try_grow(5)  # the budget is full of two halves
        assert not younger.try_grow(8)  # the older one is not waiting: there is hope of room
        waiting = asyncio.create_task(younger.grow(8))
        await asyncio.sleep(0)
        await asyncio.wait_for(older.grow(9), 5)  # now both want more: the older one goes on beyond
        peak = budget.peak
        assert not waiting.done()
        older.release()
        await asyncio.wait_for(waiting, 5)  # and then the younger one goes on
        return peak, budget.used

    assert asyncio.run(scenario()) == (14, 8)


def test_a_charge_is_given_back_once_however_often_it_is_released() -> None:
    async def scenario() -> int:
        budget = ByteBudget(10)
        first, second = budget.charge(), budget.charge()
        await first.grow(4)
        await second.grow(3)
        first.release()
        first.release()
        await first.grow(6)  # a released charge holds nothing again
        assert first.held == 0 and not first.live
        return budget.used

    assert asyncio.run(scenario()) == 3


def test_reserve_grows_the_charge_it_is_given_and_releases_it_at_the_end() -> None:
    async def scenario() -> list[int]:
        budget = ByteBudget(100)
        received = budget.charge()
        await received.grow(30)  # while DATA was read
        seen = []
        async with budget.reserve(70, received) as held:
            seen += [held is received, budget.used]
        seen.append(budget.used)
        other = ByteBudget(100).charge()  # another budget's charge: a new charge is opened here
        async with budget.reserve(20, other) as held:
            seen += [held is other, budget.used]
        return seen

    assert asyncio.run(scenario()) == [True, 70, 0, False, 20]


def test_a_cancelled_wait_leaves_nothing_behind() -> None:
    async def scenario() -> tuple[int, int]:
        budget = ByteBudget(10)
        older, younger = budget.charge(), budget.charge()
        await older.grow(10)
        waiting = asyncio.create_task(younger.grow(5))
        await asyncio.sleep(0)
        assert budget.waiting == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        younger.release()
        older.release()
        return budget.used, budget.waiting

    assert asyncio.run(scenario()) == (0, 0)


def test_a_message_that_holds_nothing_yet_does_not_stop_the_others() -> None:
    """A client that said DATA and sent nothing holds no octets: the others break their standstill
    without it."""

    async def scenario() -> int:
        budget = ByteBudget(10)
        silent, first, second = budget.charge(), budget.charge(), budget.charge()
        await first.grow(5)
        await second.grow(5)
        waiting = asyncio.create_task(first.grow(8))
        await asyncio.sleep(0)
        await asyncio.wait_for(second.grow(9), 5)  # goes on beyond the cap
        second.release()
        await asyncio.wait_for(waiting, 5)
        first.release()
        silent.release()
        return budget.used

    assert asyncio.run(scenario()) == 0
