"""How long each batch gathers records, and how the next fetches wait, chosen after each batch.

One place for the worker's agent (streams.worker.agents) and the bench's Faust floor
(streams.tools.bench.faust_floor), so that the floor is paced as the worker is.

- A batch gathers for 2 ms while the worker keeps up, and for 15 ms while at least
  ``BACKLOG_RECORDS`` records wait in Kafka behind the last batch (bigger batches spread a batch's
  fixed cost, the acknowledgement round trip and the partition markers, over more records).
  Records that came in during the last batch go at once, with no window, while it keeps up.
- While it keeps up, the broker gathers records for each fetch too, for longer the more records a
  second the worker takes (``RecentRate``, streams.worker.fetch_wait.gather_wait_ms); after
  ``IDLE_AFTER_SECONDS`` with no batch, fetches return at the first byte again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from faust.exceptions import ConsumerNotStarted

from streams.worker.fetch_wait import gather_wait_ms, shape_fetches

__all__ = [
    "BACKLOG_RECORDS",
    "BACKLOG_WITHIN_SECONDS",
    "BATCH_WITHIN_SECONDS",
    "IDLE_AFTER_SECONDS",
    "RATE_PERIOD_SECONDS",
    "BatchPacing",
    "RecentRate",
    "batch_window_after",
]

BATCH_WITHIN_SECONDS: Final = 0.002  # was 5 ms: with the 5 ms fetch gather, p50 15 -> 9 ms at 1,000/s
BACKLOG_WITHIN_SECONDS: Final = 0.015
BACKLOG_RECORDS: Final = 200
IDLE_AFTER_SECONDS: Final = 0.05
RATE_PERIOD_SECONDS: Final = 1.0


class RecentRate:
    """Records a second over the last period of at least ``RATE_PERIOD_SECONDS`` (0 before the
    first ends): what the worker takes while it keeps up, which is what arrives."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.per_second = 0.0
        self._began = clock()
        self._records = 0

    def add(self, records: int) -> None:
        self._records += records
        now = self.clock()
        elapsed = now - self._began
        if elapsed >= RATE_PERIOD_SECONDS:
            self.per_second = self._records / elapsed
            self._began, self._records = now, 0


class BatchPacing:
    """The window of the next batch and the shape of the next fetches, for one agent's stream.

    ``gather_for`` is what streams.worker.take.take_batches asks before each batch; ``after``
    is called once each batch is handled."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.window = BATCH_WITHIN_SECONDS  # the next batch's
        self.last_batch = 0.0  # when the last batch ended (monotonic seconds)
        self.rate = RecentRate()

    def gather_for(self, waiting: int) -> float:
        if waiting == 0 and time.monotonic() - self.last_batch > IDLE_AFTER_SECONDS:
            shape_fetches(self.app.consumer, gather=False)  # records stopped: no fetch every 5 ms
        # Records that came in during the last batch have waited long enough, unless a backlog
        # makes the batch worth growing.
        return self.window if waiting == 0 or self.window > BATCH_WITHIN_SECONDS else 0.0

    def after(self, batch: Sequence[Any]) -> None:
        consumer = self.app.consumer
        self.window = batch_window_after(consumer, batch)
        # While the worker keeps up, the broker gathers records for each fetch too.
        self.rate.add(len(batch))
        shape_fetches(
            consumer,
            gather=self.window == BATCH_WITHIN_SECONDS,
            gather_ms=gather_wait_ms(self.rate.per_second),
        )
        self.last_batch = time.monotonic()


def batch_window_after(consumer: Any, batch: Sequence[Any]) -> float:
    """The next batch's gathering window: the longer one when at least ``BACKLOG_RECORDS`` records
    wait in Kafka past this batch's last ones (a backlog), else the short one. With no Kafka
    consumer to ask (stopping, or faust's in-memory test context), the short one."""
    last: dict[Any, int] = {event.message.tp: event.message.offset for event in batch}
    waiting = 0
    try:
        for tp, offset in last.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                waiting += max(0, highwater - offset - 1)
    except ConsumerNotStarted:
        return BATCH_WITHIN_SECONDS
    return BACKLOG_WITHIN_SECONDS if waiting >= BACKLOG_RECORDS else BATCH_WITHIN_SECONDS
