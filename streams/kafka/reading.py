"""Reading a topic's log back from the beginning: for `creditstream dump`, tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition

__all__ = ["TopicNotFoundError", "iter_records", "partition_count"]


class TopicNotFoundError(LookupError):
    """The topic to read does not exist on the cluster (or has no partitions)."""


def iter_records(
    bootstrap_servers: str, topic: str, client_config: Mapping[str, Any] | None = None, poll_ms: int = 300
) -> Iterator[Any]:
    """Every record from the beginning to the end offsets seen at the start, partition by partition
    (so each user's records come in their order). Records are kafka-python ConsumerRecords."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, **dict(client_config or {})
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise TopicNotFoundError(f"topic {topic!r} does not exist or has no partitions")
        for partition in sorted(partitions):
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            end = consumer.end_offsets([tp])[tp]
            while consumer.position(tp) < end:
                for record in consumer.poll(timeout_ms=poll_ms).get(tp, []):
                    if record.offset < end:
                        yield record
    finally:
        consumer.close()


def partition_count(
    bootstrap_servers: str, topic: str, client_config: Mapping[str, Any] | None = None
) -> int:
    """How many partitions ``topic`` has; TopicNotFoundError when it does not exist."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, **dict(client_config or {}))
    try:
        partitions = consumer.partitions_for_topic(topic)
    finally:
        consumer.close()
    if not partitions:
        raise TopicNotFoundError(f"topic {topic!r} does not exist or has no partitions")
    return len(partitions)
