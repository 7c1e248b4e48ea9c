"""`creditstream dump`: a topic's log as JSONL, partition by partition (each user's order kept).

`creditstream dump credit.applied --out applied.jsonl` followed by `creditstream replay
applied.jsonl` reproduces the live worker's outputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition

__all__ = ["dump_topic"]


def dump_topic(
    bootstrap_servers: str, topic: str, client_config: Mapping[str, Any] | None = None, poll_ms: int = 500
) -> Iterator[bytes]:
    """Every message value from the beginning to the end offsets seen at the start.

    A value with a newline byte cannot be one JSONL line: its newlines become spaces (such a value
    is never a valid event, so it is dead-lettered either way).
    """
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
                    if record.offset >= end:
                        break
                    yield (record.value or b"").replace(b"\n", b" ")
    finally:
        consumer.close()
