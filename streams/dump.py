"""Reading a topic's log back: `creditstream dump`, and the tests and benchmarks that check outputs.

`creditstream dump credit.applied --out applied.jsonl` followed by `creditstream replay
applied.jsonl` reproduces the live worker's outputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition

__all__ = ["dump_topic", "iter_records"]


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
            raise ValueError(f"topic {topic!r} does not exist or has no partitions")
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


def dump_topic(
    bootstrap_servers: str, topic: str, client_config: Mapping[str, Any] | None = None
) -> Iterator[bytes]:
    """Every message value as one JSONL line's worth of bytes.

    A value with a newline byte cannot be one JSONL line: its newlines become spaces (such a value
    is never a valid event, so it is dead-lettered either way).
    """
    for record in iter_records(bootstrap_servers, topic, client_config):
        yield (record.value or b"").replace(b"\n", b" ")
