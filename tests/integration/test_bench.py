"""`creditstream bench worker` on the real broker: the figures count only what was measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.tools.bench import bench_worker

pytestmark = pytest.mark.broker


def test_two_worker_throughput_counts_only_events_applied_after_the_clock_started(
    bootstrap: str, tmp_path: Path
) -> None:
    """The first worker drains part of the backlog while the second starts; that part is not timed."""
    throughput, latency = bench_worker(
        bootstrap, events=1000, rate=50, seconds=2, workdir=tmp_path, workers=2
    )
    details = throughput.details
    assert details["backlog"] == 1000
    before = details["applied_before_the_clock_started"]
    assert 0 <= before <= 1000
    assert throughput.events == 1000 - before
    assert throughput.events_per_second == pytest.approx(throughput.events / throughput.seconds)
    assert latency.details["workers"] == 2
