"""Where a live worker's latency goes, from its metrics: the waits before a batch and its phases.

``bench worker`` reads each worker's /metrics before and after its steady phase; the difference of
the histograms ``creditstream_record_wait_seconds`` (per record) and ``creditstream_batch_seconds``
(per batch) gives each stage's mean and an estimated p99 over that phase only (interpolated within
its bucket, as Prometheus's histogram_quantile does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["STAGES", "Histogram", "bucket_quantile", "stage_figures", "stage_histograms"]

# (stage name in the figures, metric, label name, label value), in the order a record meets them.
STAGES: Final = (
    ("intake", "creditstream_record_wait_seconds", "stage", "intake"),
    ("batch_wait", "creditstream_record_wait_seconds", "stage", "batch"),
    ("process", "creditstream_batch_seconds", "phase", "process"),
    ("acks", "creditstream_batch_seconds", "phase", "acks"),
    ("writes", "creditstream_batch_seconds", "phase", "writes"),
)


@dataclass
class Histogram:
    """One stage's histogram as read: observations, their sum (seconds), cumulative buckets."""

    count: float = 0.0
    total: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # upper bound -> cumulative count

    def since(self, earlier: Histogram) -> Histogram:
        return Histogram(
            self.count - earlier.count,
            self.total - earlier.total,
            {bound: n - earlier.buckets.get(bound, 0.0) for bound, n in self.buckets.items()},
        )


def stage_histograms(*metrics_texts: str) -> dict[str, Histogram]:
    """The stages' histograms in Prometheus text exposition, added up over the texts (workers)."""
    label_of = {metric: label for _, metric, label, _ in STAGES}  # each metric's one stage label
    stage_of = {(metric, value): stage for stage, metric, _, value in STAGES}
    found: dict[str, Histogram] = {}
    for text in metrics_texts:
        for family in text_string_to_metric_families(text):
            label = label_of.get(family.name)
            if label is None:
                continue
            for sample in family.samples:
                stage = stage_of.get((family.name, sample.labels.get(label, "")))
                if stage is None:
                    continue
                histogram = found.setdefault(stage, Histogram())
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    histogram.buckets[bound] = histogram.buckets.get(bound, 0.0) + sample.value
                elif sample.name.endswith("_count"):
                    histogram.count += sample.value
                elif sample.name.endswith("_sum"):
                    histogram.total += sample.value
    return found


def bucket_quantile(buckets: dict[float, float], fraction: float) -> float | None:
    """The ``fraction`` quantile of cumulative bucket counts (upper bound -> count), interpolated
    linearly within its bucket; the highest finite bound when it falls in the +Inf bucket."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = fraction * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank and count > below:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def stage_figures(
    before: dict[str, Histogram], after: dict[str, Histogram]
) -> dict[str, dict[str, float | None]]:
    """Per stage, over what happened between the two readings: observations, mean and p99 (ms)."""
    figures: dict[str, dict[str, float | None]] = {}
    for stage, *_ in STAGES:
        if stage not in after:
            continue
        between = after[stage].since(before.get(stage, Histogram()))
        p99 = bucket_quantile(between.buckets, 0.99)
        figures[stage] = {
            "observations": int(between.count),
            "mean_ms": round(1000 * between.total / between.count, 2) if between.count else None,
            "p99_ms": round(1000 * p99, 1) if p99 is not None else None,
        }
    return figures
