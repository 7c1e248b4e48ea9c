"""The worker's latency split: where a record waited before its batch, and the batch's phases."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streams.worker.metrics import DomainMetrics, observe_all
from streams.worker.take import Batch


def _event(timestamp: float | None) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(timestamp=timestamp))


def _value(registry: CollectorRegistry, name: str, label: str, value: str) -> float:
    sample = registry.get_sample_value(name, {label: value})
    return 0.0 if sample is None else sample


def test_a_batch_observes_its_phases_and_each_records_waits_before_it() -> None:
    registry = CollectorRegistry()
    metrics = DomainMetrics.create(registry)
    batch = Batch([_event(99.0), _event(None), _event(100.2)], taken_at=[99.5, 99.8, 99.9])

    metrics.observe_batch(batch, (100.0, 100.5, 100.75, 101.0))

    phase = "creditstream_batch_seconds_sum"
    assert _value(registry, phase, "phase", "process") == pytest.approx(0.5)
    assert _value(registry, phase, "phase", "acks") == pytest.approx(0.25)
    assert _value(registry, phase, "phase", "writes") == pytest.approx(0.25)
    # Intake: from the record's Kafka timestamp to its taking in; none without a timestamp, and 0
    # (not negative) for a record stamped by a broker whose clock runs ahead.
    assert _value(registry, "creditstream_record_wait_seconds_count", "stage", "intake") == 2
    assert _value(registry, "creditstream_record_wait_seconds_sum", "stage", "intake") == pytest.approx(0.5)
    # From its taking in to the batch's start: every record.
    assert _value(registry, "creditstream_record_wait_seconds_count", "stage", "batch") == 3
    assert _value(registry, "creditstream_record_wait_seconds_sum", "stage", "batch") == pytest.approx(
        0.5 + 0.2 + 0.1
    )


def test_a_batch_that_does_not_say_when_its_records_came_observes_its_phases_only() -> None:
    registry = CollectorRegistry()
    metrics = DomainMetrics.create(registry)

    metrics.observe_batch([_event(99.0)], (100.0, 100.1, 100.2, 100.3))

    assert _value(registry, "creditstream_batch_seconds_count", "phase", "process") == 1
    assert _value(registry, "creditstream_record_wait_seconds_count", "stage", "intake") == 0
    assert _value(registry, "creditstream_record_wait_seconds_count", "stage", "batch") == 0


def test_a_batchs_counts_reach_the_counters_when_it_is_done_and_a_failed_ones_never() -> None:
    registry = CollectorRegistry()
    metrics = DomainMetrics.create(registry)
    events = "creditstream_events_total"
    for _ in range(3):
        metrics.counts.add(metrics.events, "credit.events", "purchase")
    metrics.counts.add(metrics.events, "credit.events", "refund")
    metrics.counts.add(metrics.score_changes)
    assert registry.get_sample_value(events, {"topic": "credit.events", "type": "purchase"}) is None

    metrics.counts.flush()
    assert registry.get_sample_value(events, {"topic": "credit.events", "type": "purchase"}) == 3
    assert registry.get_sample_value(events, {"topic": "credit.events", "type": "refund"}) == 1
    assert registry.get_sample_value("creditstream_score_changes_total") == 1

    # A batch that fails is applied again: what it had counted is dropped, not added twice.
    metrics.counts.add(metrics.events, "credit.events", "purchase")
    metrics.counts.discard()
    metrics.counts.flush()
    assert registry.get_sample_value(events, {"topic": "credit.events", "type": "purchase"}) == 3


def _exposition(registry: CollectorRegistry) -> list[bytes]:
    """The text exposition, without the ``_created`` lines (when each histogram was made)."""
    return [line for line in generate_latest(registry).splitlines() if b"_created" not in line]


@pytest.mark.parametrize("labelled", [False, True])
def test_observing_all_at_once_exposes_what_observing_one_at_a_time_does(labelled: bool) -> None:
    """Bucket by bucket, sum and count, including amounts on a bucket's bound, above the last
    finite bound and at zero."""
    bounds = (0.005, 0.01, 0.1, 1.0)
    amounts = [0.0, 0.005, 0.0051, 0.01, 0.05, 0.1, 0.7, 1.0, 1.5, 30.0, 0.003, 0.003]
    registries = CollectorRegistry(), CollectorRegistry()
    one_by_one, all_at_once = (
        Histogram("wait_seconds", "a wait", ["stage"] if labelled else [], buckets=bounds, registry=r)
        for r in registries
    )
    if labelled:
        one_by_one, all_at_once = one_by_one.labels("intake"), all_at_once.labels("intake")
    for amount in amounts:
        one_by_one.observe(amount)

    observe_all(all_at_once, amounts)

    assert _exposition(registries[1]) == _exposition(registries[0])
    assert (
        registries[1].get_sample_value(
            "wait_seconds_bucket", {"le": "0.01", **({"stage": "intake"} if labelled else {})}
        )
        == 6
    )  # 0, 0.005, 0.0051, 0.01 and both 0.003s


def test_observing_all_falls_back_to_observe_without_the_histograms_buckets() -> None:
    """Another prometheus-client without the parts read: each amount goes through ``observe``."""
    seen: list[float] = []
    observe_all(SimpleNamespace(observe=seen.append), [0.5, 0.25])
    assert seen == [0.5, 0.25]
