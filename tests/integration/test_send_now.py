"""streams.worker.send_now against aiokafka's producer on the real broker: which open record
batches leave at once, and which keep taking records while a request is in flight."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition

from schemas.topics import EVENTS
from streams.kafka.admin import ensure_topics
from streams.worker.send_now import send_lingering_now, send_partition_now, send_ready_now

pytestmark = pytest.mark.broker

LINGER_MS = 2_000  # far longer than any wait below: a record delivered sooner was sent by a close


@contextlib.asynccontextmanager
async def _lingering_producer(
    bootstrap: str, topic: str, warm: Sequence[int] = (0,)
) -> AsyncIterator[AIOKafkaProducer]:
    """A started producer with a long linger, which has sent and had answered one record to each
    ``warm`` partition: its metadata known, nothing in flight."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=LINGER_MS, acks="all")
    await producer.start()
    try:
        for partition in warm:
            await producer.send_and_wait(topic, b"warm", partition=partition)
        yield producer
    finally:
        await producer.stop()


def _faust_producer(producer: AIOKafkaProducer) -> Any:
    """What the functions are given in the worker: faust's producer, holding aiokafka's."""
    return SimpleNamespace(_producer=producer)


def _topic(bootstrap: str, prefix: str) -> str:
    topic = prefix + EVENTS.name
    ensure_topics(bootstrap, 2, topics=[replace(EVENTS, name=topic)])
    return topic


def test_a_ready_batch_leaves_at_once(bootstrap: str, unique_prefix: str) -> None:
    """With nothing in flight, send_ready_now sends what lingers: delivered well within the linger."""
    topic = _topic(bootstrap, unique_prefix)

    async def scenario() -> None:
        async with _lingering_producer(bootstrap, topic) as producer:
            delivery = await producer.send(topic, b"now", partition=0)
            send_ready_now(_faust_producer(producer))
            await asyncio.wait_for(delivery, LINGER_MS / 4000)

    asyncio.run(scenario())


def test_while_a_request_is_in_flight_the_batch_stays_open_for_more_records(
    bootstrap: str, unique_prefix: str
) -> None:
    """send_ready_now leaves a batch open while its broker has a request in flight, so the next
    record joins it at once; closing every batch (send_lingering_now) makes that record wait until
    the sender takes the batch. Both records arrive once the request in flight is answered."""
    topic = _topic(bootstrap, unique_prefix)

    async def scenario() -> None:
        async with _lingering_producer(bootstrap, topic) as producer:
            sender = producer._sender
            leader = producer.client.cluster.leader_for_partition(TopicPartition(topic, 0))
            first = await producer.send(topic, b"first", partition=0)
            sender._in_flight.add(leader)  # as while a produce request to that broker is answered
            send_ready_now(_faust_producer(producer))
            second = await asyncio.wait_for(producer.send(topic, b"second", partition=0), 0.5)

            send_lingering_now(_faust_producer(producer))  # every batch closed, the broker still busy
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(producer.send(topic, b"third", partition=0)), 0.5)

            sender._in_flight.discard(leader)  # answered
            send_lingering_now(_faust_producer(producer))
            first_sent, second_sent = await asyncio.wait_for(asyncio.gather(first, second), 10)
            assert (first_sent.partition, second_sent.partition) == (0, 0)
            assert second_sent.offset == first_sent.offset + 1  # one batch: the second joined the first

    asyncio.run(scenario())


def test_one_partitions_batch_leaves_and_the_others_linger(bootstrap: str, unique_prefix: str) -> None:
    """send_partition_now (a POST /v1/decisions request) sends its own partition's batch only."""
    topic = _topic(bootstrap, unique_prefix)

    async def scenario() -> None:
        async with _lingering_producer(bootstrap, topic, warm=(0, 1)) as producer:
            mine = await producer.send(topic, b"request", partition=1)
            other = await producer.send(topic, b"agent's output", partition=0)
            send_partition_now(_faust_producer(producer), topic, 1)
            await asyncio.wait_for(mine, LINGER_MS / 4000)
            assert not other.done()  # still lingering, open for more records

    asyncio.run(scenario())
