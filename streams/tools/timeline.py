"""A timeline of the worker's main thread: where a record's wait before its batch goes (diagnosis).

With ``CREDITSTREAM_TIMELINE=FILE``, ``creditstream worker`` appends JSON lines to FILE, about once a
second:

- ``["idle", start, end]``: each wait of the main thread's event loop for I/O over half a
  millisecond (the loop had nothing to run);
- ``["fetch", called, returned, records, oldest, newest]``: each faust ``getmany`` that brought
  records, with the oldest and newest of their Kafka timestamps;
- ``["batch", began, sent, acked, written, [[timestamp, taken], ...]]``: each batch the agent
  handled, with each record's Kafka timestamp and the moment the agent took it in;
- ``["gc", start, end, generation]``: each run of Python's cycle collector, which stops every
  thread of the process while it runs.

Times are epoch seconds; what is left is written when the process exits.
``python -m streams.tools.timeline FILE [--last SECONDS]`` reports, for the slowest records, how
long they waited before the agent took them, how much of that went by before the fetch that
carried them came back to the main thread, how long the main thread was idle meanwhile, and how
long the cycle collector ran meanwhile: a tail with an idle loop waits on Kafka, one with a busy
loop on the worker itself, and the collector's part of that on the garbage the worker makes.
Recording costs the worker a little; it is for diagnosis, not for production.
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import collections
import gc
import json
import selectors
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from streams.worker.metrics import DomainMetrics

__all__ = ["collection_recorder", "record_timeline", "tail_report"]

_Phases = tuple[float, float, float, float]  # a batch's began, sent, acked, written
IDLE_AT_LEAST_SECONDS: Final = 0.0005
FLUSH_EVERY_SECONDS: Final = 1.0


def record_timeline(path: Path) -> None:
    """Start recording this process's timeline into ``path`` (call before the event loop starts).
    Raises OSError, before anything is patched, when ``path`` cannot be appended to."""
    path.open("a").close()
    # Appended on the main thread (a collection: on whichever thread ran it), drained below.
    rows: collections.deque[list[Any]] = collections.deque()
    main_thread = threading.main_thread().ident
    selector_class: Any = selectors.DefaultSelector
    select = selector_class.select

    def timed_select(self: Any, timeout: float | None = None) -> Any:
        if threading.get_ident() != main_thread:
            return select(self, timeout)
        began = time.time()
        try:
            return select(self, timeout)
        finally:
            ended = time.time()
            if ended - began >= IDLE_AT_LEAST_SECONDS:
                rows.append(["idle", began, ended])

    getmany = AIOKafkaConsumerThread.getmany

    async def timed_getmany(self: Any, *args: Any, **kwargs: Any) -> Any:
        called = time.time()
        fetched = await getmany(self, *args, **kwargs)
        stamps = [record.timestamp / 1000 for records in fetched.values() for record in records]
        if stamps:
            rows.append(["fetch", called, time.time(), len(stamps), min(stamps), max(stamps)])
        return fetched

    observe_batch = DomainMetrics.observe_batch

    def timed_batch(self: DomainMetrics, batch: Sequence[Any], phases: _Phases) -> None:
        taken = getattr(batch, "taken_at", None) or []
        records = [[event.message.timestamp, at] for event, at in zip(batch, taken, strict=False)]
        rows.append(["batch", *phases, records])
        observe_batch(self, batch, phases)

    gc.callbacks.append(collection_recorder(rows.append))
    selector_class.select = timed_select
    AIOKafkaConsumerThread.getmany = timed_getmany  # type: ignore[method-assign]
    DomainMetrics.observe_batch = timed_batch  # type: ignore[method-assign]

    lock = threading.Lock()  # the flusher and the exit hook take turns

    def flush() -> None:
        with lock:
            taken = [rows.popleft() for _ in range(len(rows))]
            if taken:
                with path.open("a") as out:
                    out.writelines(json.dumps(row) + "\n" for row in taken)

    def flush_every_second() -> None:
        while True:
            time.sleep(FLUSH_EVERY_SECONDS)
            flush()

    atexit.register(flush)  # the last second's rows, when the worker stops
    threading.Thread(target=flush_every_second, name="timeline", daemon=True).start()


def collection_recorder(append: Callable[[list[Any]], None]) -> Callable[[str, dict[str, Any]], None]:
    """A ``gc.callbacks`` entry that appends ``["gc", start, end, generation]`` per collection."""
    began = [0.0]

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.time()
        else:
            append(["gc", began[0], time.time(), info["generation"]])

    return on_collection


def tail_report(
    rows: Sequence[Sequence[Any]], slowest: float = 0.01, last_seconds: float | None = None
) -> dict[str, Any]:
    """Where the slowest ``slowest`` share of records spent their wait before the agent took them;
    with ``last_seconds``, of the batches that began in the recording's last seconds only (a
    bench's steady phase, without the backlog before it)."""
    idle = _Intervals(row[1:3] for row in rows if row[0] == "idle")
    collections_run = _Intervals(row[1:3] for row in rows if row[0] == "gc")
    # (returned, oldest, newest) of each fetch
    fetches: list[tuple[float, float, float]] = sorted(
        (row[2], row[4], row[5]) for row in rows if row[0] == "fetch"
    )
    batches = [row for row in rows if row[0] == "batch"]
    if batches and last_seconds is not None:
        since = max(row[1] for row in batches) - last_seconds
        batches = [row for row in batches if row[1] >= since]
    waits = sorted(
        (taken - stamp, stamp, taken) for row in batches for stamp, taken in row[5] if stamp is not None
    )
    if not waits:
        return {"records": 0}
    returns = [returned for returned, _, _ in fetches]

    def fetch_returned(stamp: float) -> float | None:
        """When the first fetch returned that can have carried a record of this timestamp."""
        at = bisect.bisect_left(returns, stamp)
        while at < len(fetches):
            returned, oldest, newest = fetches[at]
            if oldest <= stamp <= newest:
                return returned
            at += 1
        return None

    tail = waits[int(len(waits) * (1 - slowest)) :]
    returned_at = [(stamp, fetch_returned(stamp)) for _, stamp, _ in tail]
    before_fetch = [returned - stamp for stamp, returned in returned_at if returned is not None]
    span = (waits[0][1], max(taken for _, _, taken in waits))

    def mean(values: Sequence[float]) -> float | None:
        return round(1000 * sum(values) / len(values), 1) if values else None

    def share(intervals: _Intervals) -> float | None:
        return round(intervals.within(*span) / (span[1] - span[0]), 3) if span[1] > span[0] else None

    return {
        "records": len(waits),
        "p50_ms": round(1000 * waits[len(waits) // 2][0], 1),
        "p99_ms": round(1000 * waits[int(len(waits) * 0.99)][0], 1),
        "tail_records": len(tail),
        "tail_wait_mean_ms": mean([wait for wait, _, _ in tail]),
        "tail_until_fetch_returned_mean_ms": mean(before_fetch),
        "tail_main_idle_mean_ms": mean([idle.within(stamp, taken) for _, stamp, taken in tail]),
        "tail_collector_mean_ms": mean([collections_run.within(stamp, taken) for _, stamp, taken in tail]),
        "main_idle_share": share(idle),
        "collector_share": share(collections_run),
        "collector_longest_ms": collections_run.longest_ms(),
    }


class _Intervals:
    """(start, end) intervals of the timeline, e.g. the loop's idle waits, that do not overlap."""

    def __init__(self, intervals: Iterable[Sequence[float]]) -> None:
        self.spans = sorted((start, end) for start, end in intervals)
        self.starts = [start for start, _ in self.spans]

    def within(self, start: float, end: float) -> float:
        """Seconds of the intervals that fall between ``start`` and ``end``."""
        at = max(0, bisect.bisect_left(self.starts, start) - 1)
        seconds = 0.0
        while at < len(self.spans) and self.spans[at][0] < end:
            seconds += max(0.0, min(end, self.spans[at][1]) - max(start, self.spans[at][0]))
            at += 1
        return seconds

    def longest_ms(self) -> float | None:
        return round(1000 * max(end - start for start, end in self.spans), 1) if self.spans else None


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.tools.timeline", description=__doc__)
    parser.add_argument("file", type=Path, help="what CREDITSTREAM_TIMELINE recorded")
    parser.add_argument("--last", type=float, metavar="SECONDS", help="only the last SECONDS' batches")
    parser.add_argument("--slowest", type=float, default=0.01, help="the share of records that is the tail")
    args = parser.parse_args(argv)
    with args.file.open() as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    print(json.dumps(tail_report(rows, args.slowest, args.last), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
