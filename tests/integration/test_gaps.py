"""The agent never applies past a missing offset: it reads the skipped records from Kafka first.

faust-streaming can deliver a partition's records with a hole in them (see streams.worker.agents).
Here the hole is made on purpose: the batch handed to the agent lacks two offsets that are in the
topic, and the outputs must be those of every record, in offset order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

from schemas.producer import CreditEventProducer
from schemas.topics import ALL_TOPICS, DECISIONS, EVENTS, LIMIT_CHANGES, OFFERS, SCORE_CHANGES
from streams.kafka.admin import ensure_topics
from streams.kafka.settings import Settings
from streams.policy import default_policy
from streams.testing import read_records, record_outputs
from streams.tools.replay import replay_lines
from streams.tools.simulate import Simulation
from streams.worker.agents import apply_batch
from streams.worker.app import create_app
from streams.worker.parts import CreditApp

pytestmark = pytest.mark.broker


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


def one_user_log(bootstrap: str, prefix: str, tmp_path: Path) -> tuple[list[bytes], list[Any], CreditApp]:
    """30 events of one user on a one-partition credit.events, and a worker's parts to apply them."""
    lines = list(Simulation(1, 120, 4, default_policy(), id_prefix="gap-").lines())[:30]
    user = orjson.loads(lines[0])["user_id"]
    ensure_topics(bootstrap, 1, topics=[dataclasses.replace(s, name=prefix + s.name) for s in ALL_TOPICS])
    with CreditEventProducer(bootstrap, topic_prefix=prefix) as producer:
        for line in lines:
            producer.send_bytes(orjson.loads(line)["type"], user, line)
    records = read_records(bootstrap, prefix + EVENTS.name)
    assert [r.offset for r in records] == list(range(len(lines)))

    settings = Settings.from_environment(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "CREDITSTREAM_TOPIC_PREFIX": prefix,
            "CREDITSTREAM_PARTITIONS": "1",
            "CREDITSTREAM_STORE": "memory",
            "CREDITSTREAM_STATE_DIR": str(tmp_path),
            "CREDITSTREAM_APP_ID": prefix.strip(".") + "-gaps",
        }
    )
    parts = create_app(settings, default_policy())
    parts.app.finalize()
    record_outputs(parts)

    async def flush() -> None:
        return None

    parts.app.producer.flush = flush  # type: ignore[method-assign]  # nothing real is sent here
    return lines, records, parts


def test_a_batch_with_missing_offsets_is_applied_whole_and_in_order(
    bootstrap: str, unique_prefix: str, tmp_path: Path
) -> None:
    lines, records, parts = one_user_log(bootstrap, unique_prefix, tmp_path)
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
        if orjson.loads(line)["type"] in ("decision", "score_changed", "limit_changed", "offer_changed")
    ]
    live = [
        value
        for name in (DECISIONS.name, SCORE_CHANGES.name, LIMIT_CHANGES.name, OFFERS.name)
        for _, value in parts.outputs[name].sent
    ]
    assert sorted(live) == sorted(expected) and len(live) == len(expected) > 0
    by_type = {t: [x for x in live if orjson.loads(x)["type"] == t] for t in ("decision", "score_changed")}
    assert by_type["decision"] == [x for x in expected if orjson.loads(x)["type"] == "decision"]
    assert by_type["score_changed"] == [x for x in expected if orjson.loads(x)["type"] == "score_changed"]
    assert parts.next_offsets == {0: len(lines)}
    metrics = parts.registry.get_sample_value("creditstream_offset_gaps_total")
    assert metrics == 3


def test_offsets_gone_from_kafka_are_logged_and_the_partition_goes_on(
    bootstrap: str, unique_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Records deleted by retention cannot be read back: the partition must not stop for good."""
    _, records, parts = one_user_log(bootstrap, unique_prefix, tmp_path)
    topic = unique_prefix + EVENTS.name
    asyncio.run(apply_batch(parts, [faust_event(r) for r in records[:3]]))
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_records({TopicPartition(topic, 0): 25})  # offsets 0..24 are gone from Kafka
    finally:
        admin.close()
    with caplog.at_level(logging.ERROR, logger="streams.worker.agents"):
        asyncio.run(apply_batch(parts, [faust_event(r) for r in records[25:]]))
    parts.gap_reader.close()
    assert f"{topic}[0]: needed offsets 3..24" in caplog.text and "applying from offset 25 on" in caplog.text
    assert parts.next_offsets == {0: 30}
    assert parts.registry.get_sample_value("creditstream_offset_gaps_total") == 22
    processed = parts.registry.get_sample_value(
        "creditstream_events_total", {"topic": topic, "type": orjson.loads(records[25].value)["type"]}
    )
    assert processed is not None and processed >= 1
