"""Recording the worker's main-thread timeline (``CREDITSTREAM_TIMELINE``): a diagnosis aid.

With ``CREDITSTREAM_TIMELINE=FILE``, ``creditstream worker`` appends JSON lines to FILE, about once a
second:

- ``["idle", start, end]``: each wait of the main thread's event loop for I/O over half a
  millisecond (the loop had nothing to run);
- ``["fetch", called, returned, records, oldest, newest]``: each faust ``getmany`` that brought
  records, with the oldest and newest of their Kafka timestamps;
- ``["batch", began, sent, acked, written, [[timestamp, taken], ...]]``: each batch the agent
  handled, with each record's Kafka timestamp and the moment the agent took it in;
- ``["gc", start, end, generation, collected]``: each run of Python's cycle collector, which
  stops every thread of the process while it runs, and how many unreachable objects it found
  (none means the pass was pure cost: reference counting had already freed the garbage).

Times are epoch seconds; what is left is written when the process exits. The report that reads
such a file is a bench instrument (``python -m streams.tools.bench.timeline``); the recorder lives
here, with the worker it patches. Recording costs the worker a little; it is for diagnosis, not
for production.
"""

from __future__ import annotations

import atexit
import collections
import gc
import json
import selectors
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from streams.worker.metrics import DomainMetrics

__all__ = ["collection_recorder", "record_timeline"]

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
    """A ``gc.callbacks`` entry that appends ``["gc", start, end, generation, collected]`` per
    collection."""
    began = [0.0]

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.time()
        else:
            append(["gc", began[0], time.time(), info["generation"], info["collected"]])

    return on_collection
