"""The worker's metrics (prometheus-client), recorded by the shell, never by the engine.

Only what the dashboard and the alert rules use, recorded once per event or per batch: faust's own
Prometheus sensor (milliseconds, a callback on every message) measured at 20-25% of throughput and
is not installed. The per-record counts (events, outputs, dead letters) are gathered over a batch
and added at its end (``BatchCounts``). Names follow Prometheus conventions: counters end in
``_total``, durations are ``_seconds``, sizes ``_bytes``. Label values are bounded: topics, event
types, products, outcomes, reason codes and dead-letter kinds are all closed sets.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.outputs import Decision, LimitChanged, OfferChanged, ScoreChanged
from streams.engine import EngineOutput
from streams.worker.restore import RestoreReport

__all__ = [
    "RECENT_DECISIONS",
    "SCORE_BAND_POINTS",
    "BatchCounts",
    "DomainMetrics",
    "observe_all",
    "score_band",
]

RECENT_DECISIONS: Final = 20  # the live page's list of the last decisions
SCORE_BAND_POINTS: Final = 50
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class BatchCounts:
    """Counter increments gathered over one batch, added when it is done (``flush``).

    prometheus-client takes a lock and looks the labels up for every increment (1.5 us here), and
    the agent made one per record and one or more per output (5.6 us an event in all). Gathered, a
    batch pays that once per label set it touched. A batch that fails, to be applied again, adds
    nothing (``discard``). Its decisions join ``recent`` (the live page's last decisions) likewise."""

    __slots__ = ("_counts", "_decisions", "recent")

    def __init__(self) -> None:
        self._counts: dict[tuple[Counter, tuple[str, ...]], int] = {}
        self._decisions: list[Decision] = []
        self.recent: deque[Decision] = deque(maxlen=RECENT_DECISIONS)

    def add(self, counter: Counter, *labels: str) -> None:
        key = (counter, labels)
        counts = self._counts
        counts[key] = counts.get(key, 0) + 1

    def decided(self, decision: Decision) -> None:
        self._decisions.append(decision)

    def flush(self) -> None:
        for (counter, labels), count in self._counts.items():
            (counter.labels(*labels) if labels else counter).inc(count)
        self._counts.clear()
        self.recent.extend(self._decisions[-RECENT_DECISIONS:])
        self._decisions.clear()

    def discard(self) -> None:
        self._counts.clear()
        self._decisions.clear()


def score_band(score: int) -> str:
    """The band of 50 points a score falls in, as a label: "600-649"."""
    low = score - score % SCORE_BAND_POINTS
    return f"{low}-{low + SCORE_BAND_POINTS - 1}"


def observe_all(histogram: Any, amounts: Sequence[float]) -> None:
    """Observe every amount into one (labelled or plain) histogram, as ``observe`` would for each.

    prometheus-client takes a lock for the sum and one for the bucket at every ``observe`` (two
    per record for the waits below, one per state written: 3.4% of a worker's samples draining a
    backlog). Here the amounts are counted into buckets first, and each bucket touched is added
    once. This reads the histogram's bucket bounds and values (``_upper_bounds``, ``_buckets``,
    ``_sum``, in prometheus-client since 0.4); without them it observes one amount at a time."""
    bounds: list[float] | None = getattr(histogram, "_upper_bounds", None)
    buckets: list[Any] | None = getattr(histogram, "_buckets", None)
    total: Any = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for amount in amounts:
            histogram.observe(amount)
        return
    counts = [0] * len(bounds)
    for amount in amounts:
        counts[bisect_left(bounds, amount)] += 1  # the first bound at or above it: observe's bucket
    total.inc(sum(amounts))
    for index, count in enumerate(counts):
        if count:
            buckets[index].inc(count)


@dataclass
class DomainMetrics:
    events: Counter
    decisions: Counter
    decline_reasons: Counter
    decision_scores: Counter
    dead_letters: Counter
    latency: Histogram
    score_changes: Counter
    limit_changes: Counter
    offer_changes: Counter
    consumer_lag: Gauge
    state_bytes: Histogram
    batch_records: Histogram
    record_wait: Histogram
    batch_seconds: Histogram
    shadow_decisions: Counter
    redelivered: Counter
    offset_gaps: Counter
    build_info: Gauge
    rebalances: Counter
    restored_records: Counter
    restore_seconds: Counter
    counts: BatchCounts = field(default_factory=BatchCounts)  # the batch's, see BatchCounts

    @classmethod
    def create(cls, registry: CollectorRegistry) -> DomainMetrics:
        return cls(
            events=Counter(
                "creditstream_events",
                "Input messages by topic and event type",
                ["topic", "type"],
                registry=registry,
            ),
            decisions=Counter(
                "creditstream_decisions",
                "Decisions by product and outcome",
                ["product", "outcome"],
                registry=registry,
            ),
            decline_reasons=Counter(
                "creditstream_decline_reasons",
                "Reason codes on declined and partial decisions",
                ["product", "reason"],
                registry=registry,
            ),
            decision_scores=Counter(
                "creditstream_decision_scores",
                "Decisions by the score they carried (its model, and a band of 50 points)",
                ["model", "band"],
                registry=registry,
            ),
            dead_letters=Counter(
                "creditstream_dead_letters",
                "Messages sent to the dead-letter topic",
                ["reason"],
                registry=registry,
            ),
            latency=Histogram(
                "creditstream_event_to_decision_seconds",
                "From the input record's timestamp to the decision's acknowledged send",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            score_changes=Counter(
                "creditstream_score_changes", "score_changed events sent", registry=registry
            ),
            limit_changes=Counter(
                "creditstream_limit_changes", "limit_changed events sent", ["product"], registry=registry
            ),
            offer_changes=Counter(
                "creditstream_offer_changes",
                "offer_changed events sent, by product whose offer state it now shows",
                ["product", "state"],
                registry=registry,
            ),
            consumer_lag=Gauge(
                "creditstream_consumer_lag",
                "Messages not yet processed, per input partition (high water mark - next offset)",
                ["topic", "partition"],
                registry=registry,
            ),
            state_bytes=Histogram(
                "creditstream_state_bytes",
                "Size of a user's stored state as written (to the table and its changelog, once per batch)",
                buckets=(256, 512, 1024, 2048, 4096, 8192, 16384),
                registry=registry,
            ),
            batch_records=Histogram(
                "creditstream_batch_records",
                "Input records per batch the agent applied: small batches cost more per event",
                buckets=(1, 5, 10, 25, 50, 100, 250, 500),
                registry=registry,
            ),
            record_wait=Histogram(
                "creditstream_record_wait_seconds",
                "Where an input record waited before its batch: stage intake is from its Kafka "
                "timestamp until the agent took it in (the broker, the fetch, faust's hand-over); "
                "stage batch is from then until its batch began",
                ["stage"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            batch_seconds=Histogram(
                "creditstream_batch_seconds",
                "Time per batch in each phase: process (decode, engine, encode, sends handed to the "
                "producer), acks (until Kafka acknowledged every output), writes (states to the table)",
                ["phase"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            redelivered=Counter(
                "creditstream_redelivered",
                "Records skipped because the user's state had already applied their offset",
                registry=registry,
            ),
            offset_gaps=Counter(
                "creditstream_offset_gaps",
                "Records found missing before an arriving one: read straight from Kafka, then applied",
                registry=registry,
            ),
            build_info=Gauge(
                "creditstream_build_info",
                "Always 1: the running creditstream version, policy version and engine (compiled or python)",
                ["version", "policy_version", "engine"],
                registry=registry,
            ),
            rebalances=Counter(
                "creditstream_rebalances",
                "Rebalances that took partitions from this worker",
                registry=registry,
            ),
            restored_records=Counter(
                "creditstream_restored_records",
                "Changelog records the bulk restore wrote to the table's store (streams.worker.restore)",
                registry=registry,
            ),
            restore_seconds=Counter(
                "creditstream_restore_seconds",
                "Time the bulk restore took, before the worker could decide for the partitions it restored",
                registry=registry,
            ),
            shadow_decisions=Counter(
                "creditstream_shadow_decisions",
                "Challenger decisions in shadow mode, and whether they agree with the champion",
                ["product", "agrees"],
                registry=registry,
            ),
        )

    def restored(self, report: RestoreReport) -> None:
        self.restored_records.inc(report.total)
        self.restore_seconds.inc(report.seconds)

    def observe_batch(self, batch: Sequence[Any], phases: tuple[float, float, float, float]) -> None:
        """A batch's phases, from the moments (epoch seconds) it began, had sent its outputs, had
        them acknowledged and had written its states; and each record's waits before it, when the
        batch says when its records were taken in (streams.worker.take.Batch)."""
        began, sent, acked, written = phases
        self.batch_seconds.labels("process").observe(sent - began)
        self.batch_seconds.labels("acks").observe(acked - sent)
        self.batch_seconds.labels("writes").observe(written - acked)
        taken_at: list[float] | None = getattr(batch, "taken_at", None)
        if taken_at is None:
            return
        intake: list[float] = []
        for event, taken in zip(batch, taken_at, strict=True):
            stamp = event.message.timestamp
            if stamp is not None:
                intake.append(max(0.0, taken - stamp))  # a broker's clock may run a little ahead
        observe_all(self.record_wait.labels("intake"), intake)
        observe_all(self.record_wait.labels("batch"), [began - taken for taken in taken_at])

    def record_outputs(self, outputs: list[EngineOutput], shadow_decisions: list[Decision]) -> None:
        """Count decisions, reasons and changes; in shadow mode, whether the challenger agrees.
        Into the batch's counts: they reach the counters at its end (``counts.flush``)."""
        add = self.counts.add
        champion = next((o for o in outputs if isinstance(o, Decision)), None)
        for shadow in shadow_decisions:
            agrees = champion is not None and champion.outcome == shadow.outcome
            add(self.shadow_decisions, shadow.product, str(agrees).lower())
        for output in outputs:
            if isinstance(output, Decision):
                add(self.decisions, output.product, output.outcome)
                if output.score is not None:
                    add(self.decision_scores, output.score_model, score_band(output.score))
                self.counts.decided(output)
                for reason in output.reasons:
                    add(self.decline_reasons, output.product, str(reason))
            elif isinstance(output, ScoreChanged):
                add(self.score_changes)
            elif isinstance(output, LimitChanged):
                add(self.limit_changes, output.product)
            elif isinstance(output, OfferChanged):
                for offer in output.offers:
                    add(self.offer_changes, offer.product, offer.state)
