"""`creditstream bench scale`: a lender's population on one worker, as an operator sizing a
deployment would try it (issue 38).

On the project's broker: a simulated book of ``users`` users is sent as a backlog, then one
worker with the default settings (``CREDITSTREAM_MEMORY_MB`` unless given) drains it. Measured:

- the worker's RSS every second: idle after start (the process's own baseline), peak and at the end,
  in MB and in bytes a user; the run fails when the peak passes the budget plus that baseline;
- events a second per 10 s window, each window with the users the worker had seen by then (from
  the log's order), so that the first windows (few users) and the last (all of them) compare in
  the same run;
- the state on disk and the changelog's records a user (as Kafka holds them when the drain ends:
  the log cleaner compacts closed segments later);
- a warm restart (same state directory) and a cold restore (empty state directory) to ``/ready``.

Not yet measured here: failover to a standby at this scale (tests/faults and tests/secure cover
failover itself).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import orjson
import psutil

from schemas.producer import CreditEventProducer
from schemas.topics import ALL_TOPICS
from streams.kafka.admin import ensure_topics
from streams.testing import LocalWorker, records_held
from streams.tools.progress import progress_bar
from streams.worker.memory import DEFAULT_MEMORY_MB

__all__ = ["bench_scale"]

WINDOW_SECONDS: Final = 10.0
STALL_SECONDS: Final = 120.0  # no progress for this long: the run is reported as stalled


def _rss(worker: LocalWorker) -> int:
    assert worker.process is not None
    return int(psutil.Process(worker.process.pid).memory_info().rss)


def _disk_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def _time_to_ready(worker: LocalWorker, timeout: float) -> float:
    began = time.monotonic()
    worker.start(ready_timeout=timeout)
    return round(time.monotonic() - began, 2)


def _send_book(bootstrap: str, prefix: str, book: Path) -> tuple[int, list[tuple[int, int]]]:
    """Send every line; returns (lines, [(lines sent, distinct users by then)] every 1%)."""
    seen: set[bytes] = set()
    curve: list[tuple[int, int]] = []
    total = sum(1 for _ in book.open("rb"))
    step = max(1, total // 100)
    sent = 0
    with CreditEventProducer(bootstrap, topic_prefix=prefix) as producer, book.open("rb") as lines:
        with progress_bar("bench scale: sending the book", total) as advance:
            for line in lines:
                head = orjson.loads(line)
                producer.send_bytes(head["type"], head["user_id"], line.rstrip(b"\n"))
                seen.add(head["user_id"].encode())
                sent += 1
                if sent % step == 0:
                    curve.append((sent, len(seen)))
                    advance(sent)
        producer.flush()
    curve.append((sent, len(seen)))
    return sent, curve


def _users_by(curve: list[tuple[int, int]], applied: int) -> int:
    known = [users for lines, users in curve if lines <= applied]
    return known[-1] if known else 0


def bench_scale(
    bootstrap: str,
    book: Path,
    users: int,
    workdir: Path,
    memory_mb: int = DEFAULT_MEMORY_MB,
    partitions: int = 8,
) -> dict[str, Any]:
    prefix = f"benchscale{int(time.time())}."
    ensure_topics(bootstrap, partitions, topics=[replace(t, name=prefix + t.name) for t in ALL_TOPICS])
    state = workdir / "state"
    worker = LocalWorker(
        bootstrap, prefix, state, workdir / "worker.log", partitions=partitions,
        extra_env={"CREDITSTREAM_MEMORY_MB": str(memory_mb)},
    )  # fmt: skip
    worker.start(ready_timeout=120)
    try:
        time.sleep(3)
        baseline = _rss(worker)
        worker.stop()
        lines, curve = _send_book(bootstrap, prefix, book)
        began = time.monotonic()
        worker.start(ready_timeout=300)
        windows: list[dict[str, Any]] = []
        peak, last_applied, last_change = baseline, 0, time.monotonic()
        window_start, window_applied = time.monotonic(), 0
        with progress_bar("bench scale: the worker drains it", lines) as advance:
            while True:
                time.sleep(1.0)
                worker.check_running()
                peak = max(peak, _rss(worker))
                applied = worker.records_processed()
                advance(applied)
                now = time.monotonic()
                if applied > last_applied:
                    last_applied, last_change = applied, now
                if now - window_start >= WINDOW_SECONDS:
                    windows.append(
                        {
                            "from_s": round(window_start - began, 1),
                            "events_per_second": round((applied - window_applied) / (now - window_start), 1),
                            "users_seen": _users_by(curve, applied),
                        }
                    )
                    window_start, window_applied = now, applied
                if applied >= lines or now - last_change > STALL_SECONDS:
                    break
        drained = time.monotonic() - began
        end_rss = _rss(worker)
        changelog = records_held(bootstrap, f"{worker.group}-users-changelog")
        disk = _disk_bytes(state)
        worker.stop()
        warm = _time_to_ready(worker, 600)
        warm_rss = _rss(worker)
        worker.stop()
        shutil.rmtree(state)
        cold = _time_to_ready(worker, 1800)
        cold_rss = _rss(worker)
        worker.stop()
    finally:
        worker.stop()
    full = [w for w in windows if w["users_seen"] >= 0.99 * users]
    early = [w for w in windows if w["users_seen"] <= max(10_000, 0.1 * users)]
    budget_bytes = memory_mb * 1024 * 1024
    result: dict[str, Any] = {
        "users": users,
        "events": lines,
        "applied": last_applied,
        "partitions": partitions,
        "memory_mb": memory_mb,
        "drain_seconds": round(drained, 1),
        "events_per_second": round(last_applied / drained, 1) if drained else 0.0,
        "rss_idle_mb": round(baseline / 2**20, 1),
        "rss_peak_mb": round(peak / 2**20, 1),
        "rss_end_mb": round(end_rss / 2**20, 1),
        "rss_peak_bytes_per_user": round((peak - baseline) / users),
        "within_budget": peak <= baseline + budget_bytes,
        "windows": windows,
        "events_per_second_early": round(sum(w["events_per_second"] for w in early) / len(early), 1)
        if early
        else None,
        "events_per_second_all_users": round(sum(w["events_per_second"] for w in full) / len(full), 1)
        if full
        else None,
        "state_disk_mb": round(disk / 2**20, 1),
        "state_disk_bytes_per_user": round(disk / users),
        "changelog_records": changelog,
        "changelog_records_per_user": round(changelog / users, 2),
        "warm_restart_seconds": warm,
        "warm_restart_rss_mb": round(warm_rss / 2**20, 1),
        "cold_restore_seconds": cold,
        "cold_restore_rss_mb": round(cold_rss / 2**20, 1),
        "cold_restore_records_per_second": round(changelog / cold, 1) if cold else None,
        "not_measured": "failover to a standby at this scale",
    }
    early_rate, late_rate = result["events_per_second_early"], result["events_per_second_all_users"]
    result["ratio_all_users_to_early"] = (
        round(late_rate / early_rate, 3) if early_rate and late_rate else None
    )
    return result
