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
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaProducer

from schemas.producer import new_traceparent
from schemas.topics import topic_for_event_type
from streams.kafka.settings import aiokafka_options

__all__ = ["TICK_SECONDS", "no_collector_pauses", "send_paced"]

TICK_SECONDS: Final = 0.005  # the producer's linger: records sent at one tick share a request anyway


def send_paced(
    bootstrap: str,
    lines: Sequence[bytes],
    rate: float,
    *,
    topic_prefix: str = "",
    tick: float = TICK_SECONDS,
    client_config: Mapping[str, Any] | None = None,
) -> float:
    """Send each event line to its topic, keyed by its user_id, the n-th no earlier than
    n / ``rate`` seconds after the first; returns the seconds from the first send until Kafka
    acknowledged the last."""
    with no_collector_pauses():
        return asyncio.run(
            _send_paced(bootstrap, lines, rate, topic_prefix, tick, aiokafka_options(client_config or {}))
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
    bootstrap: str, lines: Sequence[bytes], rate: float, prefix: str, tick: float, security: dict[str, Any]
) -> float:
    # As the project's producer helper (schemas.producer) sends: acknowledged by all replicas,
    # idempotent, lingering 5 ms; aiokafka's default partitioner is Kafka's murmur2, as the
    # worker checks.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5, **security
    )
    await producer.start()
    try:
        interval = 1.0 / rate
        pending: list[asyncio.Future[object]] = []
        began = time.perf_counter()
        start = time.monotonic()
        for index, line in enumerate(lines):
            delay = start + index * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay + tick)  # then send every event due by then
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
        return time.perf_counter() - began
    finally:
        await producer.stop()
