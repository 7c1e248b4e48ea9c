"""Test helpers over streams.testing: which outputs belong to which user."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import orjson

from schemas.topics import INPUT_TOPICS, LEGACY_INPUT_TOPICS
from schemas.topics import OUTPUT_TOPICS as CATALOGUE_OUTPUTS
from streams.testing import LocalWorker, committed_behind, read_topic, wait_until

__all__ = [
    "OUTPUT_TOPICS",
    "Worker",
    "caught_up",
    "live_outputs",
    "outputs_by_user",
    "read_topic",
    "wait_until",
]

OUTPUT_TOPICS = tuple(spec.name for spec in CATALOGUE_OUTPUTS)  # every output topic, as the catalogue says
Worker = LocalWorker


def caught_up(worker: LocalWorker) -> bool:
    """The worker's group has committed every record of its input topics (schema-1 ones included)."""
    # Forwarded records reach credit.events only once forwarded: the schema-1 topics are checked first.
    topics = [spec.name for spec in (*LEGACY_INPUT_TOPICS, *INPUT_TOPICS)]
    return all(committed_behind(worker.bootstrap, worker.group, worker.prefix + t) == 0 for t in topics)


def outputs_by_user(lines: Iterable[bytes], users: set[str]) -> dict[tuple[str, str], list[bytes]]:
    """(user_id, output type) -> the outputs in order.

    Dead letters are grouped by the key of the message they name, and sorted: one message's
    dead letter is keyed by the user_id it names, which may sit on another partition of the
    dead-letter topic than the message's key, so their order across partitions is not defined.
    """
    grouped: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    for line in lines:
        document = orjson.loads(line)
        if document["type"] == "dead_letter":
            user = document["key"]
            if user in users:
                grouped[(user, "dead_letter")].append(line)
            continue
        if document["user_id"] in users:
            grouped[(document["user_id"], document["type"])].append(line)
    for (_, kind), values in grouped.items():
        if kind == "dead_letter":
            values.sort()
    return dict(grouped)


def live_outputs(bootstrap: str, prefix: str) -> list[bytes]:
    return [value for topic in OUTPUT_TOPICS for value in read_topic(bootstrap, prefix + topic)]
