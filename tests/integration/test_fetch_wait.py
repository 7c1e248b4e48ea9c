"""Against the broker: after the application falls behind, a fetch that asks only for partitions
with nothing new holds back every other partition for the fetch's maximum wait. With the worker's
100 ms (streams.worker.fetch_wait) a new record still comes within a fraction of a second; with
faust-streaming's 1,500 ms it came 1.3 s late, which is the stall the bench saw."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from streams.worker.fetch_wait import FETCH_MAX_WAIT_MS

pytestmark = pytest.mark.broker

_HICCUP_SECONDS = 0.3  # longer than aiokafka's prefetch backoff (100 ms): busy partitions are left out


async def _seconds_until_a_new_record_arrives(
    bootstrap: str, busy: str, idle: str, fetch_max_wait_ms: int
) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    consumer = AIOKafkaConsumer(
        busy,
        idle,  # subscribed and quiet, as the worker's schema-1 input topics are
        bootstrap_servers=bootstrap,
        group_id=f"fetch-wait-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms,
        max_poll_records=10,
    )
    try:
        for _ in range(100):
            await producer.send(busy, b"x" * 100)
        await producer.flush()
        await consumer.start()
        taken = 0
        while taken == 0:
            taken += sum(map(len, (await consumer.getmany(timeout_ms=5000)).values()))
        await asyncio.sleep(_HICCUP_SECONDS)  # the application is busy: the fetched records wait
        while taken < 100:
            taken += sum(map(len, (await consumer.getmany(timeout_ms=100)).values()))
        sent = time.perf_counter()
        await (await producer.send(busy, b"new"))
        while not await consumer.getmany(timeout_ms=5000):
            pass
        return time.perf_counter() - sent
    finally:
        await consumer.stop()
        await producer.stop()


@pytest.mark.parametrize(
    ("fetch_max_wait_ms", "late"),
    [(FETCH_MAX_WAIT_MS, False), (1500, True)],
    ids=["worker-100ms", "faust-1500ms"],
)
def test_a_record_after_a_hiccup_waits_at_most_the_fetch_wait(
    bootstrap: str, admin: KafkaAdminClient, unique_prefix: str, fetch_max_wait_ms: int, late: bool
) -> None:
    busy, idle = unique_prefix + "busy", unique_prefix + "idle"
    admin.create_topics([NewTopic(busy, 1, 1), NewTopic(idle, 1, 1)])
    try:
        waited = asyncio.run(_seconds_until_a_new_record_arrives(bootstrap, busy, idle, fetch_max_wait_ms))
    finally:
        admin.delete_topics([busy, idle])
    if late:
        assert waited > 1.0, (
            f"faust's fetch wait no longer stalls ({waited:.3f}s): is the bound still needed?"
        )
    else:
        assert waited < 0.5, f"a new record took {waited:.3f}s after a hiccup"
