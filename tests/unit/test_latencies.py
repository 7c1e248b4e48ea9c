"""The steady run's latency figures: percentiles overall and per window of the run."""

from __future__ import annotations

import pytest

from streams.tools.bench.latencies import latency_windows, percentile


def test_a_percentile_is_the_value_at_that_fraction_of_the_sorted_values() -> None:
    values = list(range(1, 101))  # 1..100 ms
    assert percentile(values, 0.50) == 51
    assert percentile(values, 0.99) == 100
    assert percentile([], 0.99) == 0


def test_a_stall_shows_in_its_own_window_and_not_in_the_others() -> None:
    # 30 s of requests, one every 10 ms, answered in 5 ms, but for a stall 12 to 13 s in.
    pairs = [(1_000_000 + t, 300 if 12_000 <= t < 13_000 else 5) for t in range(0, 30_000, 10)]
    windows = latency_windows(pairs)
    assert [w["from_s"] for w in windows] == [0, 10, 20]
    assert [w["decisions"] for w in windows] == [1000, 1000, 1000]
    assert [w["p99_ms"] for w in windows] == [5, 300, 5]
    assert [w["p50_ms"] for w in windows] == [5, 5, 5]
    assert windows[1]["max_ms"] == 300


def test_windows_count_from_the_first_request_whatever_order_the_decisions_came_in() -> None:
    pairs = [(5_000, 7), (2_500, 9), (1_000, 4), (3_100, 8)]  # decisions out of request order
    windows = latency_windows(pairs, window_ms=2_000)
    assert windows == [
        {"from_s": 0, "decisions": 2, "p50_ms": 9, "p99_ms": 9, "max_ms": 9},  # sent at 0 and 1.5 s
        {"from_s": 2, "decisions": 1, "p50_ms": 8, "p99_ms": 8, "max_ms": 8},  # at 2.1 s
        {"from_s": 4, "decisions": 1, "p50_ms": 7, "p99_ms": 7, "max_ms": 7},  # at 4 s
    ]


def test_no_decisions_no_windows_and_a_window_must_be_positive() -> None:
    assert latency_windows([]) == []
    with pytest.raises(ValueError, match="window_ms must be at least 1, got 0"):
        latency_windows([(1, 1)], window_ms=0)
