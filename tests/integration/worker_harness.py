"""Test helpers over streams.testing: which outputs belong to which user."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import orjson

from schemas.topics import APPLIED, DEAD_LETTER, DECISIONS, LIMIT_CHANGES, SCORE_CHANGES
from streams.testing import LocalWorker, read_topic, wait_until

__all__ = [
    "OUTPUT_TOPICS",
    "Worker",
    "applied_count",
    "live_outputs",
    "outputs_by_user",
    "read_topic",
    "wait_until",
]

OUTPUT_TOPICS = tuple(spec.name for spec in (DECISIONS, SCORE_CHANGES, LIMIT_CHANGES, DEAD_LETTER))
Worker = LocalWorker


def applied_count(bootstrap: str, prefix: str, user_ids: set[str]) -> int:
    return sum(1 for v in read_topic(bootstrap, prefix + APPLIED.name) if _user_of_input(v) in user_ids)


def _user_of_input(value: bytes) -> str | None:
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return document.get("user_id") if isinstance(document, dict) else None


def outputs_by_user(lines: Iterable[bytes], users: set[str]) -> dict[tuple[str, str], list[bytes]]:
    """(user_id, output type) -> the outputs in order; dead letters are keyed by their error text only."""
    grouped: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    for line in lines:
        document = orjson.loads(line)
        if document["type"] == "dead_letter":
            user = document["key"]
            if user in users:
                grouped[(user, "dead_letter")].append(document["error"].encode())
            continue
        if document["user_id"] in users:
            grouped[(document["user_id"], document["type"])].append(line)
    return dict(grouped)


def live_outputs(bootstrap: str, prefix: str) -> list[bytes]:
    return [value for topic in OUTPUT_TOPICS for value in read_topic(bootstrap, prefix + topic)]
