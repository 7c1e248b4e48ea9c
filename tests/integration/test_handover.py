"""A backlog larger than the stream's buffer reaches the agent with no fetched record waiting for
room in it (streams.worker.app: STREAM_BUFFER_RECORDS and POLL_RECORDS). With faust's defaults
(a 4,096-record buffer, every fetched record in one hand-over) thousands of its records waited, one
by one (3,145 of these 20,384 in a run), and the worker drained a backlog about a quarter slower."""

from __future__ import annotations

import uuid
from dataclasses import replace
from itertools import islice
from pathlib import Path

import orjson
import pytest

from schemas.producer import CreditEventProducer
from schemas.topics import ALL_TOPICS
from streams.kafka.admin import delete_topics_starting_with, ensure_topics
from streams.policy import default_policy
from streams.testing import LocalWorker, wait_until
from streams.tools.bench import run_topic_prefixes
from streams.tools.simulate import Simulation
from streams.worker.app import POLL_RECORDS, STREAM_BUFFER_RECORDS

pytestmark = pytest.mark.broker

PARTITIONS = 8


def test_a_backlog_beyond_the_stream_buffer_is_handed_over_without_a_wait(
    bootstrap: str, tmp_path: Path
) -> None:
    prefix = f"handover{uuid.uuid4().hex[:6]}."
    events = STREAM_BUFFER_RECORDS + 2 * POLL_RECORDS
    lines = list(
        islice(Simulation(events // 120, 400, 12, default_policy(), id_prefix="ho-").lines(), events)
    )
    assert len(lines) == events
    ensure_topics(
        bootstrap, PARTITIONS, topics=[replace(spec, name=prefix + spec.name) for spec in ALL_TOPICS]
    )
    with CreditEventProducer(bootstrap, topic_prefix=prefix) as producer:
        for line in lines:
            head = orjson.loads(line)
            producer.send_bytes(head["type"], head["user_id"], line)
    worker = LocalWorker(
        bootstrap, prefix, tmp_path / "state", tmp_path / "worker.log", partitions=PARTITIONS
    )
    try:
        worker.start()
        wait_until(lambda: worker.records_processed() >= events, 300, "the backlog applied")
        assert worker.metric_total("creditstream_handover_waits_total") == 0
    finally:
        worker.stop()
        delete_topics_starting_with(bootstrap, *run_topic_prefixes(prefix))
