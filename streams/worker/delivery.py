"""Hand each fetched record to the streams without four asyncio tasks per record.

faust's consumer delivers every record it fetched as
``await self.wait_first(callback(record), self.suspend_flow.wait())`` (``_drain_messages``): mode
runs both, and its own stopped and crashed waits, as four tasks, and cancels the three losers. The
callback (faust's conductor: decode, then put the event in the stream's queue) almost never
waits, so the tasks are pure cost: measured at a quarter of the worker's throughput on a backlog.

``deliver_inline`` gives the consumer a ``wait_first`` that runs such a pair's callback directly.
When it completes without waiting, that is the result faust's would give (the callback won, and
nothing else could run meanwhile). When it does wait (flow control during a rebalance, a full
stream buffer), the rest of it goes to faust's own ``wait_first``, as before, so a flow stop can
still interrupt it. Anything else (a stopped or crashed consumer, a suspended flow, other calls)
goes to faust's unchanged. The one difference: the callback's first step runs in the fetch task's
context rather than a copy of it, which matters only to a callback that sets a context variable
(faust's hand-over sets none; its streams set the current event in their own tasks).
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Coroutine, Generator
from typing import Any

from mode.services import WaitResults

__all__ = ["deliver_inline"]


def deliver_inline(consumer: Any) -> bool:
    """Install the direct path on faust's consumer; False (nothing changed) when it lacks the
    parts this relies on, as another faust version might."""
    events: list[Any] = [getattr(consumer, name, None) for name in ("suspend_flow", "_stopped", "_crashed")]
    original = getattr(consumer, "wait_first", None)
    if original is None or not all(hasattr(event, "is_set") for event in events):
        return False
    suspend_flow, stopped, crashed = events

    async def wait_first(*coros: Any, timeout: Any = None) -> Any:
        if (
            timeout is not None
            or len(coros) != 2
            or not all(inspect.iscoroutine(coro) for coro in coros)
            or suspend_flow.is_set()
            or stopped.is_set()
            or crashed.is_set()
        ):
            return await original(*coros, timeout=timeout)
        deliver, interrupt = coros
        try:
            waiting_on = deliver.send(None)
        except StopIteration as done:
            interrupt.close()
            return WaitResults([deliver], [done.value], False)
        except BaseException:
            interrupt.close()
            raise
        return await original(_finish(deliver, waiting_on), interrupt)

    consumer.wait_first = wait_first
    return True


async def _finish(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    """The rest of a started coroutine, as a coroutine (mode's wait_first takes no generator)."""
    return await _resumed(coro, waiting_on)


@types.coroutine
def _resumed(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Generator[Any, Any, Any]:
    """Run on a coroutine that has been started and is waiting on ``waiting_on``: the task that
    runs this waits on the same thing, then sends (or throws) back, as ``await`` would."""
    while True:
        try:
            sent = yield waiting_on
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                waiting_on = coro.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                waiting_on = coro.send(sent)
            except StopIteration as done:
                return done.value
