"""The live page's document (GET /live.json): rates and latency over the sampled window, approval,
dead letters, score bands, lag and the last decisions, read from the worker's own metrics."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from streams.policy import default_policy
from streams.worker.live import LiveView, histogram_quantile
from streams.worker.metrics import LATENCY_BUCKETS, RECENT_DECISIONS, DomainMetrics, score_band
from streams.worker.user_view import user_view
from tests.unit.clock import ManualClock
from tests.unit.engine.builders import Timeline, decision_of


def test_histogram_quantile_interpolates_within_its_bucket_as_prometheus_does() -> None:
    bounds = (0.01, 0.05, 0.1)
    # 10 below 10 ms, 90 more below 50 ms, none above: the median is in the second bucket.
    counts = (10, 100, 100, 100)
    assert histogram_quantile(0.5, bounds, counts) == pytest.approx(0.01 + 0.04 * (40 / 90))
    assert histogram_quantile(0.05, bounds, counts) == pytest.approx(0.005)
    assert histogram_quantile(0.99, bounds, (0, 0, 0, 5)) == 0.1  # only +Inf: the highest bound
    assert histogram_quantile(0.5, bounds, (0, 0, 0, 0)) is None


def test_rates_and_latency_come_from_the_window_not_from_the_start() -> None:
    metrics = DomainMetrics.create(CollectorRegistry())
    clock = ManualClock()
    live = LiveView(metrics, {"app_id": "a"}, clock)
    metrics.events.labels("credit.events", "purchase").inc(1000)  # before the window
    for _ in range(500):
        metrics.latency.observe(0.5)  # slow, before the window
    live.sample()
    clock.now += 10
    metrics.events.labels("credit.events", "purchase").inc(300)
    metrics.decisions.labels("bnpl", "approved").inc(50)
    for _ in range(100):
        metrics.latency.observe(0.004)
    live.sample()

    document = live.document()
    assert document["rates"]["events_per_second"] == 30.0
    assert document["rates"]["decisions_per_second"] == 5.0
    assert document["rates"]["events_total"] == 1300
    assert document["window_seconds"] == 10.0
    # Every decision in the window took 4 ms: both percentiles fall in the 2.5-5 ms bucket.
    assert 2.5 <= document["latency_ms"]["p50"] <= 5.0
    assert 2.5 <= document["latency_ms"]["p99"] <= 5.0
    assert LATENCY_BUCKETS[1] == 0.0025


def test_one_sample_reports_no_rate_yet() -> None:
    live = LiveView(DomainMetrics.create(CollectorRegistry()), {})
    live.sample()
    document = live.document()
    assert document["rates"]["events_per_second"] == 0.0
    assert document["latency_ms"] == {"p50": None, "p99": None}


def test_approval_dead_letters_bands_and_lag() -> None:
    metrics = DomainMetrics.create(CollectorRegistry())
    metrics.decisions.labels("bnpl", "approved").inc(6)
    metrics.decisions.labels("bnpl", "partial").inc(2)
    metrics.decisions.labels("bnpl", "declined").inc(2)
    metrics.decisions.labels("cash_loan", "declined").inc(4)
    metrics.dead_letters.labels("not_json").inc(3)
    metrics.decision_scores.labels("consumer", score_band(612)).inc()
    metrics.consumer_lag.labels("credit.events", "3").set(7)
    metrics.consumer_lag.labels("credit.events", "1").set(0)

    document = LiveView(metrics, {}).document()
    assert document["approval"]["bnpl"] == {"decisions": 10, "approved": 8, "rate": 0.8}
    assert document["approval"]["cash_loan"]["rate"] == 0.0
    assert document["dead_letters"] == {"not_json": 3}
    assert document["score_bands"] == {"consumer": {"600-649": 1}}
    assert [row["partition"] for row in document["lag"]] == [1, 3]
    assert document["lag"][1]["lag"] == 7


def test_score_bands_are_fifty_points_wide() -> None:
    assert score_band(350) == "350-399"
    assert score_band(649) == "600-649"
    assert score_band(950) == "950-999"


def test_the_last_decisions_come_from_finished_batches_only_newest_first_in_the_readers_language() -> None:
    metrics = DomainMetrics.create(CollectorRegistry())
    user = Timeline()
    user.open(income="8000")
    user.overdue("bnpl", days=10)
    decisions = [decision_of(user.buy("12.00", event_id=f"p{n}")) for n in range(RECENT_DECISIONS + 3)]
    for decision in decisions[:-1]:
        metrics.record_outputs([decision], [])
    metrics.counts.flush()
    metrics.record_outputs([decisions[-1]], [])
    metrics.counts.discard()  # a failed batch: applied again later, shown then

    rows = LiveView(metrics, {}).document("zh")["recent_decisions"]
    assert len(rows) == RECENT_DECISIONS
    assert rows[0]["decided_at"] == decisions[-2].decided_at.isoformat()
    assert rows[0]["requested"] == "12.00"  # yuan, as on the wire
    assert [row["user_id"] for row in rows] == [decisions[-2].user_id] * RECENT_DECISIONS
    overdue = next(reason for row in rows for reason in row["reasons"] if reason["code"] == "OVERDUE")
    assert "逾期" in overdue["text"]
    assert metrics.decision_scores.labels("consumer", score_band(decisions[0].score or 0))._value.get() > 0


def test_the_user_view_gives_recent_decisions_and_score_factors() -> None:
    user = Timeline()
    user.open(income="8000")
    user.overdue("bnpl", days=10)
    last = decision_of(user.buy("12.00", event_id="p-last"))
    assert user.state is not None
    view = user_view(user.state, user.policy, "en")

    assert view["recent_decisions"][0]["request_event_id"] == "p-last"
    assert view["recent_decisions"][0]["outcome"] == last.outcome
    assert [r["code"] for r in view["recent_decisions"][0]["reasons"]] == [str(r) for r in last.reasons]
    factors = view["score_factors"]
    assert {f["factor"] for f in factors} == {f.name for f in default_policy().score.factors}
    assert [f["points"] for f in factors] == sorted((f["points"] for f in factors), reverse=True)
    assert all(f["text"] for f in factors)
