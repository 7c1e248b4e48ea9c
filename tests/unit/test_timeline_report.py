"""The timeline report: for the slowest records, the wait until their fetch came back to the main
thread, and how long the main thread was idle during their wait."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from streams.tools.bench.timeline import per_second, tail_report
from streams.worker.timeline import collection_recorder


def test_the_slowest_records_waits_are_split_at_their_fetch_and_the_idle_time_within_them_is_summed() -> None:
    # 99 quick records (10 ms each), then one slow one: stamped at 100.0, its fetch came back at
    # 100.08, the agent took it at 100.1; the loop was idle 100.0-100.01 and 100.09-100.2.
    quick = [[99.0 + n / 100, 99.0 + n / 100 + 0.01] for n in range(99)]
    rows = [
        ["idle", 100.0, 100.01],
        ["idle", 100.09, 100.2],
        ["idle", 5.0, 6.0],  # long before: counts only towards the idle share
        ["fetch", 99.0, 100.08, 3, 99.99, 100.0],
        ["fetch", 98.0, 99.0, 99, 99.0, 108.0],  # returned before the slow record was stamped
        ["batch", 99.99, 100.0, 100.0, 100.0, quick],
        ["batch", 100.1, 100.2, 100.3, 100.4, [[100.0, 100.1]]],
        ["gc", 100.02, 100.05, 1],  # during the slow record's wait
        ["gc", 99.5, 99.51, 0],  # during no tail record's wait
    ]
    report = tail_report(rows)
    assert report["records"] == 100
    assert report["p50_ms"] == pytest.approx(10.0)
    assert report["tail_records"] == 1
    assert report["tail_wait_mean_ms"] == pytest.approx(100.0)
    assert report["tail_until_fetch_returned_mean_ms"] == pytest.approx(80.0)
    assert report["tail_main_idle_mean_ms"] == pytest.approx(20.0)  # 10 ms, then 10 of the last 110
    # From the first record's stamp (99.0) to the last taken (100.1): 20 ms idle of 1.1 s.
    assert report["main_idle_share"] == pytest.approx(0.02 / 1.1, abs=0.0005)
    assert report["tail_collector_mean_ms"] == pytest.approx(30.0)
    assert report["collector_share"] == pytest.approx(0.04 / 1.1, abs=0.0005)
    assert report["collector_longest_ms"] == pytest.approx(30.0)


def test_the_shares_run_from_the_first_records_stamp_whichever_record_waited_least() -> None:
    """The idle share is over the whole span of the records, not from the stamp of the record that
    waited least: that record may be the last one, and the span then an instant (a CI run's
    test_timeline saw a share of 0)."""
    rows = [
        ["idle", 10.0, 10.5],  # while the first record waited
        ["batch", 11.0, 11.0, 11.0, 11.0, [[10.0, 11.0]]],  # waited 1 s
        ["batch", 12.0, 12.0, 12.0, 12.0, [[11.999, 12.0]]],  # waited 1 ms, stamped last
    ]
    assert tail_report(rows)["main_idle_share"] == pytest.approx(0.5 / 2.0, abs=0.0005)


def test_last_seconds_keeps_only_the_recordings_last_batches() -> None:
    rows = [
        ["batch", 10.0, 10.1, 10.2, 10.3, [[5.0, 10.0]]],  # a backlog's 5 s wait
        ["batch", 100.0, 100.1, 100.2, 100.3, [[99.99, 100.0]]],
    ]
    assert tail_report(rows)["p99_ms"] == pytest.approx(5000.0)
    steady = tail_report(rows, last_seconds=20)
    assert steady["records"] == 1 and steady["p99_ms"] == pytest.approx(10.0)
    assert tail_report([])["records"] == 0


def test_each_collection_is_recorded_with_its_generation_how_long_it_ran_and_what_it_found() -> None:
    rows: list[list[Any]] = []
    recorder = collection_recorder(rows.append)
    gc.collect()  # nothing unreachable left before the test's own garbage
    cycle: list[Any] = []
    cycle.append(cycle)  # unreachable once deleted: only the collector frees it
    del cycle
    gc.callbacks.append(recorder)
    try:
        gc.collect(1)
        gc.collect(1)
    finally:
        gc.callbacks.remove(recorder)
    assert [row[0] for row in rows] == ["gc", "gc"]
    _, start, end, generation, collected = rows[0]
    assert generation == 1
    assert 0 <= end - start < 5
    assert collected >= 1 and rows[1][4] == 0  # the cycle, then nothing left to find
    assert tail_report([["batch", 1.0, 1.0, 1.0, 1.0, [[0.5, 1.0]]]])["collector_longest_ms"] is None


def test_per_second_splits_the_recording_by_when_each_batch_began() -> None:
    rows = [
        ["batch", 10.0, 10.02, 10.03, 10.04, [[9.99, 10.0], [9.995, 10.0]]],
        ["batch", 10.5, 10.51, 10.52, 10.53, [[10.49, 10.5]]],
        ["batch", 11.2, 11.4, 11.45, 11.5, [[11.0, 11.2]] * 3],  # a slow second
        ["idle", 10.1, 10.3],
        ["idle", 11.6, 11.7],
        ["gc", 11.1, 11.18, 0, 0],
        ["fetch", 9.0, 10.0, 2, 9.99, 9.995],  # not in the table
    ]
    first, second = per_second(rows)
    assert first["second"] == 0 and second["second"] == 1
    assert (first["records"], first["batches"], first["largest_batch"]) == (3, 2, 2)
    assert first["wait_max_ms"] == pytest.approx(10.0)
    assert first["process_s"] == pytest.approx(0.03)
    assert first["idle_s"] == pytest.approx(0.2) and first["collector_s"] == 0
    assert second["wait_p99_ms"] == pytest.approx(200.0)
    assert (second["process_s"], second["acks_s"], second["writes_s"]) == pytest.approx((0.2, 0.05, 0.05))
    assert second["collections"] == [[0, pytest.approx(80.0), 0]]
    # The last 0.5 s only: back from the last batch's start (11.2), so from 10.7, its second 0.
    (only,) = [row for row in per_second(rows, last_seconds=0.5) if row["records"]]
    assert only["records"] == 3 and only["second"] == 0
    assert [row["records"] for row in per_second(rows, last_seconds=1.0)] == [1, 3]  # from 10.2
    assert per_second([["idle", 1.0, 2.0]]) == []
