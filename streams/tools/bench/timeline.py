"""Where the slowest records waited, from a worker's recorded timeline (diagnosis).

``CREDITSTREAM_TIMELINE=FILE`` makes ``creditstream worker`` record its main thread's timeline
(streams.worker.timeline says what the lines are).
``python -m streams.tools.bench.timeline FILE [--last SECONDS]`` reports, for the slowest records, how
long they waited before the agent took them, how much of that went by before the fetch that
carried them came back to the main thread, how long the main thread was idle meanwhile, and how
long the cycle collector ran meanwhile: a tail with an idle loop waits on Kafka, one with a busy
loop on the worker itself, and the collector's part of that on the garbage the worker makes.

``--per-second`` prints the same recording second by second instead (``per_second``): records,
batches, the largest batch, the waits, and how the main thread's second was spent. A tail that
comes in episodes shows there as the seconds whose batches grow and whose idle time vanishes.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["per_second", "tail_report"]


def tail_report(
    rows: Sequence[Sequence[Any]], slowest: float = 0.01, last_seconds: float | None = None
) -> dict[str, Any]:
    """Where the slowest ``slowest`` share of records spent their wait before the agent took them;
    with ``last_seconds``, of the batches that began in the recording's last seconds only (a
    bench's steady phase, without the backlog before it)."""
    idle = _Intervals(row[1:3] for row in rows if row[0] == "idle")
    collections_run = _Intervals(row[1:3] for row in rows if row[0] == "gc")
    # (returned, oldest, newest) of each fetch
    fetches: list[tuple[float, float, float]] = sorted(
        (row[2], row[4], row[5]) for row in rows if row[0] == "fetch"
    )
    batches = [row for row in rows if row[0] == "batch"]
    if batches and last_seconds is not None:
        since = max(row[1] for row in batches) - last_seconds
        batches = [row for row in batches if row[1] >= since]
    waits = sorted(
        (taken - stamp, stamp, taken) for row in batches for stamp, taken in row[5] if stamp is not None
    )
    if not waits:
        return {"records": 0}
    returns = [returned for returned, _, _ in fetches]

    def fetch_returned(stamp: float) -> float | None:
        """When the first fetch returned that can have carried a record of this timestamp."""
        at = bisect.bisect_left(returns, stamp)
        while at < len(fetches):
            returned, oldest, newest = fetches[at]
            if oldest <= stamp <= newest:
                return returned
            at += 1
        return None

    tail = waits[int(len(waits) * (1 - slowest)) :]
    returned_at = [(stamp, fetch_returned(stamp)) for _, stamp, _ in tail]
    before_fetch = [returned - stamp for stamp, returned in returned_at if returned is not None]
    span = (min(stamp for _, stamp, _ in waits), max(taken for _, _, taken in waits))  # all records

    def mean(values: Sequence[float]) -> float | None:
        return round(1000 * sum(values) / len(values), 1) if values else None

    def share(intervals: _Intervals) -> float | None:
        return round(intervals.within(*span) / (span[1] - span[0]), 3) if span[1] > span[0] else None

    return {
        "records": len(waits),
        "p50_ms": round(1000 * waits[len(waits) // 2][0], 1),
        "p99_ms": round(1000 * waits[int(len(waits) * 0.99)][0], 1),
        "tail_records": len(tail),
        "tail_wait_mean_ms": mean([wait for wait, _, _ in tail]),
        "tail_until_fetch_returned_mean_ms": mean(before_fetch),
        "tail_main_idle_mean_ms": mean([idle.within(stamp, taken) for _, stamp, taken in tail]),
        "tail_collector_mean_ms": mean([collections_run.within(stamp, taken) for _, stamp, taken in tail]),
        "main_idle_share": share(idle),
        "collector_share": share(collections_run),
        "collector_longest_ms": collections_run.longest_ms(),
    }


def per_second(rows: Sequence[Sequence[Any]], last_seconds: float | None = None) -> list[dict[str, Any]]:
    """One row per second of the recording (by when each batch began; with ``last_seconds``, of
    its last seconds only): the records and batches, the largest batch, the p50, p99 and longest
    wait before the agent took a record, and the seconds of the main thread's second spent
    processing, awaiting acknowledgements, writing, idle, and in the cycle collector (each pass
    listed as generation, milliseconds, and unreachable objects found, None in older recordings).
    Seconds with no batch and no idle wait are left out."""
    batches = [row for row in rows if row[0] == "batch"]
    if not batches:
        return []
    began_at = [row[1] for row in batches]
    start = max(began_at) - last_seconds if last_seconds is not None else min(began_at)
    seconds: dict[int, dict[str, Any]] = {}

    def second(at: float) -> dict[str, Any] | None:
        if at < start:
            return None
        return seconds.setdefault(
            int(at - start),
            {"records": 0, "batches": 0, "largest_batch": 0, "waits": [], "process_s": 0.0,
             "acks_s": 0.0, "writes_s": 0.0, "idle_s": 0.0, "collector_s": 0.0, "collections": []},
        )  # fmt: skip

    for _, began, sent, acked, written, records in (row[:6] for row in batches):
        into = second(began)
        if into is None:
            continue
        into["records"] += len(records)
        into["batches"] += 1
        into["largest_batch"] = max(into["largest_batch"], len(records))
        into["process_s"] += sent - began
        into["acks_s"] += acked - sent
        into["writes_s"] += written - acked
        into["waits"] += [taken - stamp for stamp, taken in records if stamp is not None]
    for row in rows:
        if row[0] in ("idle", "gc") and (into := second(row[1])) is not None:
            if row[0] == "idle":
                into["idle_s"] += row[2] - row[1]
            else:
                into["collector_s"] += row[2] - row[1]
                found = row[4] if len(row) > 4 else None  # recorded since the collector's count
                into["collections"].append([row[3], round(1000 * (row[2] - row[1]), 1), found])
    table = []
    for at in sorted(seconds):
        figures = seconds[at]
        waits = sorted(figures.pop("waits"))
        if waits:
            figures.update(
                wait_p50_ms=round(1000 * waits[len(waits) // 2], 1),
                wait_p99_ms=round(1000 * waits[int(len(waits) * 0.99)], 1),
                wait_max_ms=round(1000 * waits[-1], 1),
            )
        for name in ("process_s", "acks_s", "writes_s", "idle_s", "collector_s"):
            figures[name] = round(figures[name], 3)
        table.append({"second": at, **figures})
    return table


def _print_per_second(table: Sequence[dict[str, Any]]) -> None:
    print("second records batches largest  wait_p50 wait_p99 wait_max  process  acks writes  idle    gc")
    for row in table:
        print(
            f"{row['second']:6} {row['records']:7} {row['batches']:7} {row['largest_batch']:7} "
            f"{row.get('wait_p50_ms', 0):9.1f} {row.get('wait_p99_ms', 0):8.1f} "
            f"{row.get('wait_max_ms', 0):8.1f} "
            f"{row['process_s']:8.3f} {row['acks_s']:5.3f} {row['writes_s']:6.3f} {row['idle_s']:5.3f} "
            f"{row['collector_s']:5.3f} "
            + " ".join(f"gen{generation}:{ms}ms:found{found}" for generation, ms, found in row["collections"])
        )


class _Intervals:
    """(start, end) intervals of the timeline, e.g. the loop's idle waits, that do not overlap."""

    def __init__(self, intervals: Iterable[Sequence[float]]) -> None:
        self.spans = sorted((start, end) for start, end in intervals)
        self.starts = [start for start, _ in self.spans]

    def within(self, start: float, end: float) -> float:
        """Seconds of the intervals that fall between ``start`` and ``end``."""
        at = max(0, bisect.bisect_left(self.starts, start) - 1)
        seconds = 0.0
        while at < len(self.spans) and self.spans[at][0] < end:
            seconds += max(0.0, min(end, self.spans[at][1]) - max(start, self.spans[at][0]))
            at += 1
        return seconds

    def longest_ms(self) -> float | None:
        return round(1000 * max(end - start for start, end in self.spans), 1) if self.spans else None


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.tools.bench.timeline", description=__doc__)
    parser.add_argument("file", type=Path, help="what CREDITSTREAM_TIMELINE recorded")
    parser.add_argument("--last", type=float, metavar="SECONDS", help="only the last SECONDS' batches")
    parser.add_argument("--slowest", type=float, default=0.01, help="the share of records that is the tail")
    parser.add_argument("--per-second", action="store_true", help="the recording second by second")
    parser.add_argument("--json", action="store_true", help="with --per-second: JSON lines, not a table")
    args = parser.parse_args(argv)
    with args.file.open() as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    if args.per_second:
        table = per_second(rows, args.last)
        if args.json:
            for row in table:
                print(json.dumps(row))
        else:
            _print_per_second(table)
        return 0
    print(json.dumps(tail_report(rows, args.slowest, args.last), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
