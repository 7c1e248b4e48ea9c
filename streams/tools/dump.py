"""`creditstream dump`: a topic's log as JSONL; ``credit.events --records`` for a faithful replay.

`creditstream dump credit.events --records --out events.jsonl` followed by `creditstream replay
events.jsonl` reproduces the live worker's outputs byte for byte: each line keeps the record's
partition, offset, timestamp and key (streams.records).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from streams.kafka.reading import iter_records, partition_count
from streams.records import encode_record
from streams.tools.partitioned import part_name

__all__ = ["PartitionFiles", "dump_topic"]


def dump_topic(
    bootstrap_servers: str,
    topic: str,
    client_config: Mapping[str, Any] | None = None,
    *,
    records: bool = False,
) -> Iterator[bytes]:
    """Every message as one JSONL line's worth of bytes: the value, or with ``records`` the whole
    record (streams.records).

    A value with a newline byte cannot be one JSONL line: its newlines become spaces (such a value
    is never a valid event, so it is dead-lettered either way). A record line keeps it exactly.
    """
    if records:
        partitions = partition_count(bootstrap_servers, topic, client_config)
        for record in iter_records(bootstrap_servers, topic, client_config):
            yield encode_record(record, partitions)
        return
    for record in iter_records(bootstrap_servers, topic, client_config):
        yield (record.value or b"").replace(b"\n", b" ")


class PartitionFiles:
    """``dump --records --partitioned DIR``: each record line into its partition's file, which
    `replay` and `backtest` take as one task each (streams.tools.partitioned)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.glob("partition-*.jsonl")):
            raise FileExistsError(17, "already holds partition files (a dump is never mixed with another)")
        self.directory = directory
        self.files: dict[int, BinaryIO] = {}

    def write(self, line: bytes) -> None:
        partition = int(orjson.loads(line)["record"]["partition"])
        sink = self.files.get(partition)
        if sink is None:
            sink = self.files[partition] = (self.directory / part_name(partition)).open("wb")
        sink.write(line + b"\n")

    def close(self) -> None:
        for sink in self.files.values():
            sink.close()
