"""The bench's peers send the worker's records per event, a fractional ratio, event by event."""

from __future__ import annotations

import pytest

from streams.tools.bench.passthrough import RecordsPerEvent


@pytest.mark.parametrize("ratio", [0.759, 1.146, 2.0, 0.0])
def test_the_records_sent_per_event_keep_to_the_ratio_over_the_whole_run(ratio: float) -> None:
    quota = RecordsPerEvent(ratio)
    counts = [quota.next() for _ in range(1000)]
    assert set(counts) <= {int(ratio), int(ratio) + 1}  # never more than one record off the ratio
    assert abs(sum(counts) - ratio * 1000) <= 1
