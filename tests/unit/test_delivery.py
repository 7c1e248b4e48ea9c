"""streams.worker.delivery: a record's delivery runs inline when it does not wait, and otherwise
ends as faust's ``wait_first`` would end it (a flow stop still interrupts it)."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from mode import Service

from streams.worker.delivery import deliver_inline


class _Consumer(Service):
    """The parts of faust's consumer that the direct path reads: mode's wait_first, and the event
    a rebalance sets to stop the flow."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()
        self.original_calls = 0

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        self.original_calls += 1
        return await super().wait_first(*coros, timeout=timeout)


async def _tasks_created_during(coroutine: Any) -> tuple[Any, int]:
    loop = asyncio.get_running_loop()
    created = 0
    factory = loop.get_task_factory()

    def counting(loop: Any, coro: Any, **kwargs: Any) -> Any:
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop, **kwargs) if factory is None else factory(loop, coro, **kwargs)

    loop.set_task_factory(counting)
    try:
        return await coroutine, created
    finally:
        loop.set_task_factory(factory)


def test_a_delivery_that_does_not_wait_runs_inline_with_no_task() -> None:
    async def scenario() -> None:
        consumer = _Consumer()
        assert deliver_inline(consumer)

        async def deliver() -> str:
            return "delivered"

        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an interrupt coroutine left unawaited would warn
            results, created = await _tasks_created_during(
                consumer.wait_first(deliver(), consumer.suspend_flow.wait())
            )
        assert (list(results.results), results.stopped, created, consumer.original_calls) == (
            ["delivered"],
            False,
            0,
            0,
        )

    asyncio.run(scenario())


def test_without_the_direct_path_faust_makes_tasks_per_delivery() -> None:
    """The control for the test above: mode's wait_first makes four tasks for the same call."""

    async def scenario() -> None:
        consumer = _Consumer()

        async def deliver() -> str:
            return "delivered"

        results, created = await _tasks_created_during(
            consumer.wait_first(deliver(), consumer.suspend_flow.wait())
        )
        assert list(results.results) == ["delivered"]
        assert created == 4

    asyncio.run(scenario())


def test_a_delivery_that_waits_is_finished_with_what_it_waited_for() -> None:
    async def scenario() -> None:
        consumer = _Consumer()
        deliver_inline(consumer)
        gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def deliver() -> str:
            return "got " + await gate

        waiting = asyncio.ensure_future(consumer.wait_first(deliver(), consumer.suspend_flow.wait()))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        gate.set_result("room")
        results = await waiting
        assert list(results.results) == ["got room"]
        assert consumer.original_calls == 1  # the rest of it ran under faust's own wait_first

    asyncio.run(scenario())


def test_a_flow_stop_interrupts_a_waiting_delivery_and_cancels_it() -> None:
    async def scenario() -> None:
        consumer = _Consumer()
        deliver_inline(consumer)
        gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        outcome: list[str] = []

        async def deliver() -> None:
            try:
                await gate
                outcome.append("delivered")
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise

        waiting = asyncio.ensure_future(consumer.wait_first(deliver(), consumer.suspend_flow.wait()))
        await asyncio.sleep(0.01)
        consumer.suspend_flow.set()
        results = await waiting
        await asyncio.sleep(0.01)
        assert list(results.results) == [True]  # the flow stop won, as with faust's own
        assert outcome == ["cancelled"]

    asyncio.run(scenario())


def test_an_error_in_a_delivery_is_raised_to_the_consumer() -> None:
    async def scenario() -> None:
        consumer = _Consumer()
        deliver_inline(consumer)

        async def deliver() -> None:
            raise ValueError("undecodable")

        with pytest.raises(ValueError, match="undecodable"):
            await consumer.wait_first(deliver(), consumer.suspend_flow.wait())

    asyncio.run(scenario())


@pytest.mark.parametrize("state", ["flow stopped", "consumer stopped"])
def test_a_stopped_flow_or_consumer_goes_to_fausts_wait_first(state: str) -> None:
    async def scenario() -> None:
        consumer = _Consumer()
        deliver_inline(consumer)
        if state == "flow stopped":
            consumer.suspend_flow.set()
        else:
            consumer._stopped.set()

        async def deliver() -> str:
            return "delivered"

        await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
        assert consumer.original_calls == 1

    asyncio.run(scenario())


def test_a_consumer_without_the_parts_is_left_alone() -> None:
    class Bare:
        async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
            return None

    bare = Bare()
    before = bare.wait_first
    assert not deliver_inline(bare)
    assert bare.wait_first == before
