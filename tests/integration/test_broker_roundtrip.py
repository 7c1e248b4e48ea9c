"""The real broker: the catalogue's topics are created co-partitioned, and messages round-trip."""

from __future__ import annotations

import dataclasses
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from schemas.topics import ALL_TOPICS, TopicSpec
from streams.kafka.admin import CoPartitioningError, ensure_topics, partition_counts


def prefixed(prefix: str) -> list[TopicSpec]:
    return [dataclasses.replace(spec, name=prefix + spec.name) for spec in ALL_TOPICS]


def test_ensure_topics_creates_every_catalogue_topic_with_the_same_partition_count(
    bootstrap: str, admin: KafkaAdminClient, unique_prefix: str
) -> None:
    specs = prefixed(unique_prefix)
    created = ensure_topics(bootstrap, partitions=4, topics=specs)
    assert sorted(created) == sorted(s.name for s in specs)
    assert partition_counts(admin, [s.name for s in specs]) == {s.name: 4 for s in specs}
    # A second call finds them all and creates nothing.
    assert ensure_topics(bootstrap, partitions=4, topics=specs) == []


def test_ensure_topics_refuses_topics_that_break_co_partitioning(bootstrap: str, unique_prefix: str) -> None:
    specs = prefixed(unique_prefix)
    ensure_topics(bootstrap, partitions=2, topics=specs[:1])
    with pytest.raises(CoPartitioningError, match=rf"{specs[0].name} has 2 partitions"):
        ensure_topics(bootstrap, partitions=8, topics=specs)


def test_messages_keyed_by_user_round_trip_in_partition_order(bootstrap: str, unique_prefix: str) -> None:
    specs = prefixed(unique_prefix)[:1]
    ensure_topics(bootstrap, partitions=4, topics=specs)
    topic = specs[0].name
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    sent = [(f"user-{i % 3}".encode(), f"message-{i}".encode()) for i in range(30)]
    partitions: dict[bytes, set[int]] = {}
    for key, value in sent:
        metadata = producer.send(topic, key=key, value=value).get(timeout=10)
        partitions.setdefault(key, set()).add(metadata.partition)
    producer.close()
    # One key, one partition: that is what keeps a user's events in order.
    assert all(len(p) == 1 for p in partitions.values())

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    consumer.assign([TopicPartition(topic, p) for p in range(4)])
    received: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 20
    while len(received) < len(sent) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            received.extend((r.key, r.value) for r in records)
    consumer.close()
    assert sorted(received) == sorted(sent)
    for key in partitions:
        assert [v for k, v in received if k == key] == [v for k, v in sent if k == key]
