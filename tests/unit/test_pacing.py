"""streams.worker.pacing and fetch_wait.gather_wait_ms: fetches gather for longer the more records a
second a worker takes, since each fetch costs the worker about a millisecond of processor whatever
it brings, and a light load keeps the short wait its latency needs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from streams.worker import pacing
from streams.worker.fetch_wait import (
    GATHER_MAX_WAIT_MS,
    HEAVY_EVENTS_PER_SECOND,
    HEAVY_GATHER_MAX_WAIT_MS,
    LIGHT_EVENTS_PER_SECOND,
    gather_wait_ms,
)
from streams.worker.pacing import RATE_PERIOD_SECONDS, BatchPacing, RecentRate
from tests.unit.clock import ManualClock


def test_a_light_load_gathers_briefly_and_a_heavy_one_longer_in_proportion_between() -> None:
    assert gather_wait_ms(0) == GATHER_MAX_WAIT_MS
    assert gather_wait_ms(1_000) == GATHER_MAX_WAIT_MS  # the 1,000 events/s latency target
    assert gather_wait_ms(LIGHT_EVENTS_PER_SECOND) == GATHER_MAX_WAIT_MS
    middle = (LIGHT_EVENTS_PER_SECOND + HEAVY_EVENTS_PER_SECOND) / 2
    assert gather_wait_ms(middle) == round((GATHER_MAX_WAIT_MS + HEAVY_GATHER_MAX_WAIT_MS) / 2)
    assert gather_wait_ms(HEAVY_EVENTS_PER_SECOND) == HEAVY_GATHER_MAX_WAIT_MS
    assert gather_wait_ms(50_000) == HEAVY_GATHER_MAX_WAIT_MS
    waits = [gather_wait_ms(rate) for rate in range(0, 3_000, 50)]
    assert waits == sorted(waits)  # never shorter for more records


def test_the_rate_is_the_records_of_the_last_full_period() -> None:
    clock = ManualClock()
    rate = RecentRate(clock)
    for _ in range(3):  # 75 records in 0.75 s: no period has ended yet
        clock.now += 0.25
        rate.add(25)
    assert rate.per_second == 0.0
    clock.now += 0.25
    rate.add(25)  # 100 records in 1.0 s
    assert rate.per_second == pytest.approx(100.0)
    clock.now += RATE_PERIOD_SECONDS * 2
    rate.add(3_000)  # the next period: 3,000 records in 2 s, nothing of the first carried over
    assert rate.per_second == pytest.approx(1_500.0)


@pytest.mark.parametrize(("records_a_second", "expected_ms"), [(1_000, 5), (2_000, 20)])
def test_after_each_batch_the_fetches_gather_as_long_as_the_rate_asks(
    monkeypatch: pytest.MonkeyPatch, records_a_second: int, expected_ms: int
) -> None:
    shaped: list[tuple[bool, int]] = []

    def shape(consumer: Any, *, gather: bool, gather_ms: int) -> bool:
        shaped.append((gather, gather_ms))
        return True

    clock = ManualClock()
    monkeypatch.setattr(pacing, "shape_fetches", shape)
    monkeypatch.setattr(pacing, "batch_window_after", lambda consumer, batch: pacing.BATCH_WITHIN_SECONDS)
    batching = BatchPacing(SimpleNamespace(consumer=None))
    batching.rate = RecentRate(clock)
    for _ in range(9):  # batches of an eighth of a second's records, an eighth of a second apart
        clock.now += 0.125
        batching.after([None] * (records_a_second // 8))
    assert shaped[0] == (True, GATHER_MAX_WAIT_MS)  # no rate known yet: the short wait
    assert shaped[-1] == (True, expected_ms)
