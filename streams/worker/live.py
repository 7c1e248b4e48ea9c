"""What the worker's live page shows (GET /live.json), read from its own metrics.

The page asks every few seconds; each answer must be cheap while the worker is busy, so nothing
here walks the table or the topics. The worker's Prometheus metrics already count everything the
page shows; ``LiveView.sample`` (a 2 s timer) keeps their totals for the last
``WINDOW_SECONDS``, and rates and latency percentiles are differences over that window, as
Prometheus' ``rate`` and ``histogram_quantile`` would compute them. Approval rates, dead letters and
score bands are totals since the worker started; the last decisions come from the batches
(``BatchCounts.recent``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import Counter, Gauge, Histogram

from schemas.money import fen_to_yuan
from schemas.outputs import Decision
from streams.explain.texts import Language, reason_rows
from streams.worker.metrics import LATENCY_BUCKETS, DomainMetrics

__all__ = ["SAMPLE_SECONDS", "WINDOW_SECONDS", "LiveView", "Sample", "histogram_quantile"]

SAMPLE_SECONDS: Final = 2.0
WINDOW_SECONDS: Final = 30.0
_APPROVING: Final = frozenset({"approved", "partial"})


@dataclass(frozen=True)
class Sample:
    """The running totals at one moment (monotonic seconds)."""

    at: float
    events: float
    decisions: float
    latency_buckets: tuple[float, ...]  # cumulative counts, one per bound of LATENCY_BUCKETS and +Inf


def _samples(metric: Counter | Gauge | Histogram, suffix: str) -> Iterable[tuple[dict[str, str], float]]:
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith(suffix):
                yield sample.labels, sample.value


def _total(metric: Counter) -> float:
    return sum(value for _, value in _samples(metric, "_total"))


def _cumulative_buckets(histogram: Histogram) -> tuple[float, ...]:
    return tuple(value for _, value in _samples(histogram, "_bucket"))


def histogram_quantile(quantile: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """The ``quantile`` of a histogram's cumulative ``counts`` (one per bound, then +Inf), by linear
    interpolation within the bucket it falls in, as Prometheus' ``histogram_quantile`` does; None
    with no observations. A quantile in the +Inf bucket is the highest finite bound."""
    total = counts[-1] if counts else 0
    if total <= 0:
        return None
    rank = quantile * total
    below, lower = 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=False):
        if cumulative >= rank:
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        below, lower = cumulative, bound
    return bounds[-1]


class LiveView:
    """The live page's document: rates, approval, latency, dead letters, scores, lag, the last
    decisions, and what runs (policy, engine)."""

    def __init__(
        self,
        metrics: DomainMetrics,
        about: dict[str, Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.about = about  # version, policy, challenger, engine, app id: fixed for the process
        self.clock = clock
        self.samples: deque[Sample] = deque(maxlen=int(WINDOW_SECONDS / SAMPLE_SECONDS) + 1)

    def sample(self) -> None:
        metrics = self.metrics
        self.samples.append(
            Sample(
                self.clock(),
                _total(metrics.events),
                _total(metrics.decisions),
                _cumulative_buckets(metrics.latency),
            )
        )

    def document(self, language: Language = "en") -> dict[str, Any]:
        metrics = self.metrics
        return {
            **self.about,
            "window_seconds": self._window_seconds(),
            "rates": self._rates(),
            "latency_ms": self._latency(),
            "approval": self._approval(),
            "dead_letters": {
                labels["reason"]: int(value) for labels, value in _samples(metrics.dead_letters, "_total")
            },
            "score_bands": self._score_bands(),
            "lag": sorted(
                (
                    {"topic": labels["topic"], "partition": int(labels["partition"]), "lag": int(value)}
                    for labels, value in _samples(metrics.consumer_lag, "")
                ),
                key=lambda row: (row["topic"], row["partition"]),
            ),
            "recent_decisions": [_decision_row(d, language) for d in reversed(metrics.counts.recent)],
        }

    def _window(self) -> tuple[Sample, Sample] | None:
        if len(self.samples) < 2:
            return None
        return self.samples[0], self.samples[-1]

    def _window_seconds(self) -> float:
        window = self._window()
        return round(window[1].at - window[0].at, 1) if window else 0.0

    def _rates(self) -> dict[str, float | int]:
        window = self._window()
        events, decisions = _total(self.metrics.events), _total(self.metrics.decisions)
        rates: dict[str, float | int] = {"events_total": int(events), "decisions_total": int(decisions)}
        if window is None:
            return {**rates, "events_per_second": 0.0, "decisions_per_second": 0.0}
        first, last = window
        seconds = max(last.at - first.at, 1e-9)
        return {
            **rates,
            "events_per_second": round((last.events - first.events) / seconds, 1),
            "decisions_per_second": round((last.decisions - first.decisions) / seconds, 1),
        }

    def _latency(self) -> dict[str, float | None]:
        window = self._window()
        if window is None:
            return {"p50": None, "p99": None}
        first, last = window
        counts = [b - a for a, b in zip(first.latency_buckets, last.latency_buckets, strict=True)]
        figures: dict[str, float | None] = {}
        for name, quantile in (("p50", 0.5), ("p99", 0.99)):
            seconds = histogram_quantile(quantile, LATENCY_BUCKETS, counts)
            figures[name] = round(seconds * 1000, 1) if seconds is not None else None
        return figures

    def _approval(self) -> dict[str, dict[str, float | int]]:
        by_product: dict[str, dict[str, float | int]] = {}
        for labels, value in _samples(self.metrics.decisions, "_total"):
            row = by_product.setdefault(labels["product"], {"decisions": 0, "approved": 0})
            row["decisions"] += int(value)
            if labels["outcome"] in _APPROVING:
                row["approved"] += int(value)
        for row in by_product.values():
            row["rate"] = round(row["approved"] / row["decisions"], 4) if row["decisions"] else 0.0
        return dict(sorted(by_product.items()))

    def _score_bands(self) -> dict[str, dict[str, int]]:
        bands: dict[str, dict[str, int]] = {}
        for labels, value in _samples(self.metrics.decision_scores, "_total"):
            bands.setdefault(labels["model"], {})[labels["band"]] = int(value)
        return {model: dict(sorted(counts.items())) for model, counts in sorted(bands.items())}


def _decision_row(decision: Decision, language: Language) -> dict[str, Any]:
    return {
        "decided_at": decision.decided_at.isoformat(),
        "user_id": decision.user_id,
        "product": decision.product,
        "outcome": decision.outcome,
        "requested": fen_to_yuan(decision.requested_amount),
        "approved": fen_to_yuan(decision.approved_amount),
        "score": decision.score,
        "reasons": reason_rows(decision.reasons, language),
    }
