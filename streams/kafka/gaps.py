"""Reading the records a consumer skipped: a partition's offsets [start, end) straight from Kafka.

The worker's agent uses this when a record arrives past the next offset it must apply (see
streams.worker.agents): it reads the missing records itself instead of trusting the consumer to
deliver them again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition

__all__ = ["GapReader", "MissingRecordsError"]


class MissingRecordsError(RuntimeError):
    """Offsets that should hold records could not be read (deleted by retention, or unreachable)."""


class GapReader:
    """A consumer of its own (no group, no commits) that reads exact offset ranges."""

    def __init__(self, bootstrap_servers: str, client_config: Mapping[str, Any] | None = None) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._config = dict(client_config or {})
        self._consumer: KafkaConsumer | None = None

    def read(self, topic: str, partition: int, start: int, end: int, timeout_s: float = 30.0) -> list[Any]:
        """The records at offsets start..end-1, in order (kafka-python ConsumerRecords)."""
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                bootstrap_servers=self._bootstrap_servers, enable_auto_commit=False, **self._config
            )
        consumer = self._consumer
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while (left_ms := int((deadline - time.monotonic()) * 1000)) > 0:
            # position() blocks with no timeout of its own (kafka-python 3: a coordinator round trip)
            position = consumer.position(tp, timeout_ms=left_ms)
            if position is not None and position >= end:
                break
            for record in consumer.poll(timeout_ms=min(200, left_ms)).get(tp, []):
                if start <= record.offset < end:
                    records.append(record)
        offsets = [r.offset for r in records]
        if offsets != list(range(start, end)):
            have = f"{offsets[0]}..{offsets[-1]}" if offsets else "none"
            raise MissingRecordsError(f"{topic}[{partition}]: needed offsets {start}..{end - 1}, read {have}")
        return records

    def abandon(self) -> None:
        """Forget the consumer without closing it, for a read that never returned: the thread still
        inside it keeps it, and closing could wait on that very read. The next read makes a new one."""
        self._consumer = None

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
