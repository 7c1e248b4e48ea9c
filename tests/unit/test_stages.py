"""The latency split bench worker reports, read from the workers' /metrics."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from streams.tools.bench.stages import bucket_quantile, stage_figures, stage_histograms
from streams.worker.metrics import DomainMetrics
from streams.worker.take import Batch


def test_a_quantile_is_interpolated_within_its_bucket() -> None:
    buckets = {0.01: 50.0, 0.025: 90.0, 0.05: 100.0, float("inf"): 100.0}
    assert bucket_quantile(buckets, 0.99) == pytest.approx(0.025 + 0.025 * 9 / 10)
    assert bucket_quantile(buckets, 0.5) == pytest.approx(0.01)
    assert bucket_quantile(buckets, 0.25) == pytest.approx(0.005)


def test_a_quantile_past_the_last_bound_is_that_bound_and_none_without_observations() -> None:
    assert bucket_quantile({0.01: 50.0, float("inf"): 100.0}, 0.99) == 0.01
    assert bucket_quantile({0.01: 0.0, float("inf"): 0.0}, 0.99) is None
    assert bucket_quantile({}, 0.99) is None


def _exposition(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_the_figures_cover_only_what_happened_between_two_readings_of_every_worker() -> None:
    registries = [CollectorRegistry(), CollectorRegistry()]
    workers = [DomainMetrics.create(registry) for registry in registries]

    def batch(worker: DomainMetrics, wait: float, process: float) -> None:
        events = [SimpleNamespace(message=SimpleNamespace(timestamp=10.0))]
        worker.observe_batch(
            Batch(events, [10.0 + wait]), (20.0, 20.0 + process, 20.0 + process, 20.0 + process)
        )

    batch(workers[0], wait=5.0, process=1.0)  # before the first reading: left out
    before = stage_histograms(*map(_exposition, registries))
    batch(workers[0], wait=0.004, process=0.002)
    batch(workers[1], wait=0.006, process=0.004)
    figures = stage_figures(before, stage_histograms(*map(_exposition, registries)))

    assert figures["intake"]["observations"] == 2
    assert figures["intake"]["mean_ms"] == pytest.approx(5.0)
    assert figures["process"]["mean_ms"] == pytest.approx(3.0)
    assert figures["acks"]["mean_ms"] == 0.0
    # Both process times fall in the bucket (0.0025, 0.005]: p99 near its top, never the 1 s left out.
    p99 = figures["process"]["p99_ms"]
    assert p99 is not None and 2.5 < p99 <= 5.0
    assert set(figures) == {"intake", "batch_wait", "process", "acks", "writes"}
