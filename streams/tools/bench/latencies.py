"""Event-to-decision latencies of a steady run: percentiles, overall and window by window.

One p99 over a minute cannot tell a tail spread evenly over the run (every batch a little late)
from a few stalls (a collection, a fetch held at the broker, the load generator's own pause): the
first is the worker's cost per record, the second a cause to find. ``latency_windows`` splits the
run by when each request was sent, so the JSON of `bench worker` shows which it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NotRequired, TypedDict

__all__ = ["WINDOW_MS", "LatencyWindow", "latency_windows", "percentile"]

WINDOW_MS: Final = 10_000


class LatencyWindow(TypedDict):
    """The decisions to requests sent in ``[from_s, from_s + window)`` seconds of the run."""

    from_s: int
    decisions: int
    p50_ms: int
    p99_ms: int
    max_ms: int
    # `bench worker`: the most the load generator's events left late in the window (ms, against its
    # schedule; streams.tools.bench.paced). A window it fell behind in ended in a catch-up burst.
    sender_late_ms: NotRequired[int]


def percentile(values: Sequence[int], fraction: float) -> int:
    """The value at ``fraction`` of sorted ``values`` (0 for none)."""
    if not values:
        return 0
    return values[min(len(values) - 1, int(fraction * len(values)))]


def latency_windows(
    sent_and_latency: Sequence[tuple[int, int]], window_ms: int = WINDOW_MS
) -> list[LatencyWindow]:
    """Percentiles per window of the run, in order, from (request sent at, latency) pairs in
    milliseconds. Windows count from the first request; a window with no decision is left out."""
    if window_ms < 1:
        raise ValueError(f"window_ms must be at least 1, got {window_ms}")
    if not sent_and_latency:
        return []
    start = min(sent for sent, _ in sent_and_latency)
    by_window: dict[int, list[int]] = {}
    for sent, latency in sent_and_latency:
        by_window.setdefault((sent - start) // window_ms, []).append(latency)
    windows: list[LatencyWindow] = []
    for index in sorted(by_window):
        latencies = sorted(by_window[index])
        windows.append(
            {
                "from_s": index * window_ms // 1000,
                "decisions": len(latencies),
                "p50_ms": percentile(latencies, 0.50),
                "p99_ms": percentile(latencies, 0.99),
                "max_ms": latencies[-1],
            }
        )
    return windows
