"""CREDITSTREAM_TIMELINE: a worker on the broker records its main thread's timeline, and the report
reads where its records waited."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from itertools import islice
from pathlib import Path

import orjson
import pytest

from schemas.producer import CreditEventProducer
from streams.policy import default_policy
from streams.testing import LocalWorker, wait_until
from streams.tools.simulate import Simulation

pytestmark = pytest.mark.broker


def test_a_worker_records_its_timeline_and_the_report_reads_it(bootstrap: str, tmp_path: Path) -> None:
    timeline = tmp_path / "timeline.jsonl"
    worker = LocalWorker(
        bootstrap, f"tl{uuid.uuid4().hex[:6]}.", tmp_path / "state", tmp_path / "worker.log",
        extra_env={"CREDITSTREAM_TIMELINE": str(timeline)},
    )  # fmt: skip
    lines = list(islice(Simulation(30, 60, 11, default_policy(), id_prefix="tl-").lines(), 600))
    worker.start()
    try:
        wait_until(lambda: worker.get("/ready")[0] == 200, 120, "the worker ready")
        with CreditEventProducer(bootstrap, topic_prefix=worker.prefix) as producer:
            for line in lines:
                head = orjson.loads(line)
                producer.send_bytes(head["type"], head["user_id"], line)
        wait_until(lambda: worker.records_processed() >= len(lines), 120, "every record applied")
        wait_until(lambda: _taken(timeline) >= len(lines), 10, "every record's batch in the timeline")
    finally:
        worker.stop()
    kinds = {json.loads(line)[0] for line in timeline.read_text().splitlines()}
    # The cycle collector may or may not have run in so short a life.
    assert {"idle", "fetch", "batch"} <= kinds <= {"idle", "fetch", "batch", "gc"}
    report = subprocess.run(
        [sys.executable, "-m", "streams.tools.bench.timeline", str(timeline)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    figures = json.loads(report.stdout)
    assert figures["records"] == len(lines)
    assert 0 <= figures["p50_ms"] <= figures["p99_ms"] < 120_000
    assert figures["tail_records"] == len(lines) - int(len(lines) * 0.99)
    assert figures["tail_until_fetch_returned_mean_ms"] is not None
    assert 0 < figures["main_idle_share"] <= 1
    assert 0 <= figures["collector_share"] < 1


def _taken(timeline: Path) -> int:
    """Records in the batches the timeline holds so far (it is written about once a second)."""
    if not timeline.exists():
        return 0
    complete = timeline.read_text().split("\n")[:-1]  # a line being written has no newline yet
    rows = [json.loads(line) for line in complete]
    return sum(len(row[5]) for row in rows if row[0] == "batch")
