"""The peer the worker is measured against: a bare aiokafka loop over the same backlog.

It reads credit.events in its own consumer group, parses each message (as the worker must), and
sends ``records_per_event`` records for it, the number the worker really sends per event (outputs
and changelog), without awaiting each one; it flushes and commits per batch, as the worker does.
No engine, no table, no Faust: what is left is the cost of Kafka itself, on the same machine, in
the same run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.kafka.settings import aiokafka_options

__all__ = ["PassthroughResult", "RecordsPerEvent", "run_passthrough"]


@dataclass(frozen=True)
class PassthroughResult:
    events: int
    seconds: float
    records_sent: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class RecordsPerEvent:
    """How many records to send for each event in turn, so that the total keeps to a fractional
    ratio (the worker's records per event): the fraction left over is carried to the next."""

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio
        self.owed = 0.0

    def next(self) -> int:
        self.owed += self.ratio
        whole = int(self.owed)
        self.owed -= whole
        return whole


def run_passthrough(
    bootstrap: str,
    input_topic: str,
    output_topic: str,
    events: int,
    records_per_event: float,
    group: str,
    client_config: Mapping[str, Any] | None = None,
) -> PassthroughResult:
    """Consume ``events`` messages of ``input_topic`` from the start; time it from the first batch.
    ``client_config``: kafka-python's security settings (the worker's), given to aiokafka alike."""
    security = aiokafka_options(client_config or {})
    return asyncio.run(
        _passthrough(bootstrap, input_topic, output_topic, events, records_per_event, group, security)
    )


async def _passthrough(
    bootstrap: str,
    input_topic: str,
    output_topic: str,
    events: int,
    records_per_event: float,
    group: str,
    security: dict[str, Any],
) -> PassthroughResult:
    consumer = AIOKafkaConsumer(
        input_topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        **security,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, **security)
    await consumer.start()
    await producer.start()
    seen = sent = 0
    quota = RecordsPerEvent(records_per_event)
    began: float | None = None
    try:
        while seen < events:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            if not batches:
                continue
            if began is None:
                began = time.perf_counter()
            for records in batches.values():
                for record in records:
                    orjson.loads(record.value or b"null")  # the worker parses every message
                    for _ in range(quota.next()):
                        await producer.send(output_topic, record.value, key=record.key)
                        sent += 1
                    seen += 1
            await producer.flush()  # the outputs are in Kafka before the commit, as the worker does
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
    return PassthroughResult(seen, time.perf_counter() - (began or time.perf_counter()), sent)
