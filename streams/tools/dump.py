"""`creditstream dump`: a topic's log as JSONL, e.g. ``credit.applied`` for a faithful replay.

`creditstream dump credit.applied --out applied.jsonl` followed by `creditstream replay
applied.jsonl` reproduces the live worker's outputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from streams.kafka.reading import iter_records

__all__ = ["dump_topic"]


def dump_topic(
    bootstrap_servers: str, topic: str, client_config: Mapping[str, Any] | None = None
) -> Iterator[bytes]:
    """Every message value as one JSONL line's worth of bytes.

    A value with a newline byte cannot be one JSONL line: its newlines become spaces (such a value
    is never a valid event, so it is dead-lettered either way).
    """
    for record in iter_records(bootstrap_servers, topic, client_config):
        yield (record.value or b"").replace(b"\n", b" ")
