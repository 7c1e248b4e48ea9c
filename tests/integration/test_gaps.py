"""The agent never applies past a missing offset: it reads the skipped records from Kafka first.

faust-streaming can deliver a partition's records with a hole in them (see streams.worker.agents).
Here the hole is made on purpose: the batch handed to the agent lacks two offsets that are in the
topic, and the outputs must be those of every record, in offset order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from schemas.producer import CreditEventProducer
from schemas.topics import ALL_TOPICS, DECISIONS, EVENTS, LIMIT_CHANGES, SCORE_CHANGES
from streams.kafka.admin import ensure_topics
from streams.kafka.settings import Settings
from streams.policy import default_policy
from streams.testing import read_records
from streams.tools.replay import replay_lines
from streams.tools.simulate import Simulation
from streams.worker.agents import apply_batch
from streams.worker.app import create_app

pytestmark = pytest.mark.broker


class RecordingTopic:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, *, key: bytes | None, value: bytes, callback: Any = None) -> None:
        self.sent.append(value)


class Event:
    """What the agent reads of a faust event: its message (weak-referenceable, as faust's are)."""

    def __init__(self, message: Any) -> None:
        self.message = message


def faust_event(record: Any) -> Event:
    """A faust-like event for a kafka-python record (timestamps in seconds)."""
    message = SimpleNamespace(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        timestamp=record.timestamp / 1000,
        headers=[],
        tp=(record.topic, record.partition),
    )
    return Event(message)


def test_a_batch_with_missing_offsets_is_applied_whole_and_in_order(
    bootstrap: str, unique_prefix: str, tmp_path: Path
) -> None:
    lines = list(Simulation(1, 120, 4, default_policy(), id_prefix="gap-").lines())[:30]
    user = orjson.loads(lines[0])["user_id"]
    ensure_topics(
        bootstrap, 1, topics=[dataclasses.replace(s, name=unique_prefix + s.name) for s in ALL_TOPICS]
    )
    with CreditEventProducer(bootstrap, topic_prefix=unique_prefix) as producer:
        for line in lines:
            producer.send_bytes(orjson.loads(line)["type"], user, line)
    records = read_records(bootstrap, unique_prefix + EVENTS.name)
    assert [r.offset for r in records] == list(range(len(lines)))

    settings = Settings.from_environment(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "CREDITSTREAM_TOPIC_PREFIX": unique_prefix,
            "CREDITSTREAM_PARTITIONS": "1",
            "CREDITSTREAM_STORE": "memory",
            "CREDITSTREAM_STATE_DIR": str(tmp_path),
            "CREDITSTREAM_APP_ID": unique_prefix.strip(".") + "-gaps",
        }
    )
    parts = create_app(settings, default_policy())
    parts.app.finalize()
    for name in list(parts.outputs):
        parts.outputs[name] = RecordingTopic()

    async def flush() -> None:
        return None

    parts.app.producer.flush = flush  # type: ignore[method-assign]  # nothing real is sent here
    # Offsets 5, 6 and 20 never reach the agent: faust "dropped" them.
    delivered = [faust_event(r) for r in records if r.offset not in (5, 6, 20)]
    asyncio.run(apply_batch(parts, delivered[:12]))
    asyncio.run(apply_batch(parts, delivered[12:]))
    parts.gap_reader.close()

    out = io.BytesIO()
    replay_lines(iter(lines), out, default_policy())
    expected = [
        line
        for line in out.getvalue().splitlines()
        if orjson.loads(line)["type"] in ("decision", "score_changed", "limit_changed")
    ]
    live = [
        value
        for name in (DECISIONS.name, SCORE_CHANGES.name, LIMIT_CHANGES.name)
        for value in parts.outputs[name].sent
    ]
    assert sorted(live) == sorted(expected) and len(live) == len(expected) > 0
    by_type = {t: [x for x in live if orjson.loads(x)["type"] == t] for t in ("decision", "score_changed")}
    assert by_type["decision"] == [x for x in expected if orjson.loads(x)["type"] == "decision"]
    assert by_type["score_changed"] == [x for x in expected if orjson.loads(x)["type"] == "score_changed"]
    assert parts.next_offsets == {0: len(lines)}
    metrics = parts.registry.get_sample_value("creditstream_offset_gaps_total")
    assert metrics == 3
