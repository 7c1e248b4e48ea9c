"""The bench's steady load: event lines sent to Kafka at a fixed rate, on as little CPU as it can.

The bench, the broker and the worker share this machine's cores, so the load generator's own CPU
comes out of the worker's. Sending record by record with kafka-python at a steady 1,900 events/s
took half a core: each send wakes its sender thread, and the pacing slept once per event. Here
aiokafka sends from one asyncio loop, and the pacing wakes once per ``tick`` to send every event
then due: at that rate, about a quarter of the CPU. The tick costs the measured latency nothing,
as it is counted from when the broker appended the input record (LogAppendTime).

The cycle collector is off while it sends: one of its passes over the bench's heap (the simulated
backlog and steady events) took 70 ms, during which nothing was sent, and the 130 events due
meanwhile then reached the worker as one burst, not at the steady rate the run is about.

The generator can still fall behind (it shares the cores), and then catches up in a burst: one run
at 2,400 events/s sent 1,362 events in one second and 3,000 in the next. So it says, per window of
the run, how late its latest event left (``PacedSend.late_ms_by_window``), beside that window's
latencies in `bench worker`'s JSON: a window it fell behind in was not a steady load.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaProducer

from schemas.producer import new_traceparent
from schemas.topics import topic_for_event_type
from streams.kafka.settings import aiokafka_options
from streams.tools.bench.latencies import WINDOW_MS

__all__ = ["TICK_SECONDS", "Lateness", "PacedSend", "no_collector_pauses", "send_paced"]

TICK_SECONDS: Final = 0.005  # the producer's linger: records sent at one tick share a request anyway


@dataclass
class Lateness:
    """How late events left against their schedule, the most per window of the schedule
    (``window_ms``, from its start), in whole milliseconds. On time, an event leaves up to a
    tick and the loop's wake-up late."""

    window_ms: int = WINDOW_MS
    most_by_window: dict[int, int] = field(default_factory=dict)

    def add(self, due_s: float, sent_s: float) -> None:
        """An event due ``due_s`` seconds into the schedule left at ``sent_s``."""
        window = int(due_s * 1000) // self.window_ms
        late = max(0, round((sent_s - due_s) * 1000))
        if late >= self.most_by_window.get(window, 0):
            self.most_by_window[window] = late

    def by_window(self) -> list[int]:
        """The most per window, from the first to the last that had an event (0 for none)."""
        last = max(self.most_by_window, default=-1)
        return [self.most_by_window.get(window, 0) for window in range(last + 1)]


@dataclass(frozen=True)
class PacedSend:
    """The seconds from the first send until Kafka acknowledged the last, per window of the
    schedule the most an event left late, in ms (``Lateness``), and how many lines were sent."""

    seconds: float
    late_ms_by_window: list[int]
    events: int


def send_paced(
    bootstrap: str,
    lines: Sequence[bytes],
    rate: float,
    *,
    topic_prefix: str = "",
    tick: float = TICK_SECONDS,
    client_config: Mapping[str, Any] | None = None,
    stop: threading.Event | None = None,
) -> PacedSend:
    """Send each event line to its topic, keyed by its user_id, the n-th no earlier than
    n / ``rate`` seconds after the first; with ``stop``, no line after it is set (a load that
    lasts as long as a measurement does, not as long as it was planned to)."""
    with no_collector_pauses():
        return asyncio.run(
            _send_paced(
                bootstrap, lines, rate, topic_prefix, tick, aiokafka_options(client_config or {}), stop
            )
        )


@contextlib.contextmanager
def no_collector_pauses() -> Iterator[None]:
    """No cycle collection inside: what exists now is collected once and frozen (never scanned
    again), and the collector stays off until the block ends; cycles the block leaves go at the
    collector's next pass after it. What the process had frozen before (``tune_gc`` freezes what
    start-up loaded) stays frozen, and then so does what the block froze with it: the freeze
    cannot be undone in part."""
    was_enabled = gc.isenabled()
    was_frozen = gc.get_freeze_count() > 0
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if not was_frozen:
            gc.unfreeze()
        if was_enabled:
            gc.enable()


async def _send_paced(
    bootstrap: str,
    lines: Sequence[bytes],
    rate: float,
    prefix: str,
    tick: float,
    security: dict[str, Any],
    stop: threading.Event | None,
) -> PacedSend:
    # As the project's producer helper (schemas.producer) sends: acknowledged by all replicas,
    # idempotent, lingering 5 ms; aiokafka's default partitioner is Kafka's murmur2, as the
    # worker checks.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5, **security
    )
    await producer.start()
    try:
        interval = 1.0 / rate
        pending: list[asyncio.Future[object]] = []  # one per line sent
        began = time.perf_counter()
        start = time.monotonic()
        lateness = Lateness()
        for index, line in enumerate(lines):
            if stop is not None and stop.is_set():
                break
            due = index * interval
            delay = start + due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay + tick)  # then send every event due by then
            lateness.add(due, time.monotonic() - start)
            head = orjson.loads(line)
            pending.append(
                await producer.send(
                    prefix + topic_for_event_type(head["type"]),
                    line,
                    key=head["user_id"].encode(),
                    headers=[("traceparent", new_traceparent().encode())],
                )
            )
        await asyncio.gather(*pending)
        return PacedSend(time.perf_counter() - began, lateness.by_window(), len(pending))
    finally:
        await producer.stop()
