"""`creditstream bench scale`: a lender's population on one worker, as an operator sizing a
deployment would try it (issue 38).

On the project's broker, one worker with the default settings (``CREDITSTREAM_MEMORY_MB`` unless
given) drains a backlog of simulated books of the same shape (the same days): first
``SMALL_BOOKS`` books of 10,000 users each, one after the other, then one of ``users``. Measured:

- the worker's RSS four times a second: idle after start (the process's own baseline), peak and
  at the end, in MB and in bytes a user; the run fails when the peak passes the budget plus that
  baseline;
- throughput with 10,000 users at a time (the small books: a store of at most
  ``SMALL_BOOKS`` x 10,000 users, read mostly from the decoded-state cache) and with all of them
  (the large book: nearly every read a cache miss that goes to RocksDB), the same behaviour, and
  their ratio; and per 10 s window, with the users the worker had seen by then. One small book
  lasts about 10 s here, too short to judge against a large book that takes minutes (it went
  from 2,745 to 4,287 events/s between runs), so there are several, each measured;
- the state on disk, and the changelog's records a user: written by the drain, and held at the
  cold restore (what it read: Kafka's log cleaner has compacted the rolled segments by then);
- a warm restart (same state directory) and a cold restore (empty state directory) to ``/ready``,
  with the records the bulk restore read and its rate;
- failover: a second worker with standby replicas joins (from an empty disk), the first is
  SIGKILLed, and the time until the second has decided a request for a user of every partition.
"""

from __future__ import annotations

import itertools
import shutil
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson
import psutil
from kafka import KafkaConsumer, TopicPartition

from schemas.producer import CreditEventProducer
from schemas.topics import ALL_TOPICS, DECISIONS
from streams.kafka.admin import ensure_topics
from streams.kafka.settings import Settings
from streams.processing import expected_partition
from streams.testing import LocalWorker, offsets_spanned, wait_until
from streams.tools.progress import progress_bar
from streams.worker.memory import DEFAULT_MEMORY_MB

__all__ = ["SMALL_BOOKS", "SMALL_BOOK_USERS", "bench_scale"]

SMALL_BOOK_USERS: Final = 10_000
SMALL_BOOKS: Final = 6
WINDOW_SECONDS: Final = 10.0
SAMPLE_SECONDS: Final = 0.25
STALL_SECONDS: Final = 120.0  # no progress for this long: the run is reported as stalled
SESSION_TIMEOUT_SECONDS: Final = Settings.__dataclass_fields__["session_timeout_seconds"].default


@dataclass
class Sent:
    """A book sent: its lines, and [(lines sent, distinct users by then)] every 1%."""

    lines: int
    curve: list[tuple[int, int]]
    last_user_by_partition: dict[int, str]


def _rss(worker: LocalWorker) -> int:
    assert worker.process is not None
    return int(psutil.Process(worker.process.pid).memory_info().rss)


def _disk_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def _time_to_ready(worker: LocalWorker, timeout: float) -> float:
    began = time.monotonic()
    worker.start(ready_timeout=timeout)
    return round(time.monotonic() - began, 2)


def _send_book(bootstrap: str, prefix: str, book: Path, partitions: int, label: str) -> Sent:
    seen: set[bytes] = set()
    curve: list[tuple[int, int]] = []
    by_partition: dict[int, str] = {}
    total = sum(1 for _ in book.open("rb"))
    step = max(1, total // 100)
    sent = 0
    with CreditEventProducer(bootstrap, topic_prefix=prefix) as producer, book.open("rb") as lines:
        with progress_bar(f"bench scale: sending {label}", total) as advance:
            for line in lines:
                head = orjson.loads(line)
                user = head["user_id"]
                producer.send_bytes(head["type"], user, line.rstrip(b"\n"))
                key = user.encode()
                if key not in seen:
                    seen.add(key)
                    by_partition[expected_partition(key, partitions)] = user
                sent += 1
                if sent % step == 0:
                    curve.append((sent, len(seen)))
                    advance(sent)
        producer.flush()
    curve.append((sent, len(seen)))
    return Sent(sent, curve, by_partition)


def _users_by(curve: list[tuple[int, int]], applied: int) -> int:
    known = [users for lines, users in curve if lines <= applied]
    return known[-1] if known else 0


class CpuShares:
    """Where the machine's CPU went since the last read, in cores: the worker's event-loop thread,
    its other threads (RocksDB's flushes and compactions, aiokafka, the restore's writes), the
    local Kafka brokers (their log cleaner included), and idle. On a shared 2-core machine these
    say what a window's throughput competed with."""

    def __init__(self, worker: LocalWorker) -> None:
        assert worker.process is not None
        self.worker = psutil.Process(worker.process.pid)
        self.brokers = [
            p for p in psutil.process_iter(["cmdline"]) if "kafka.Kafka" in (p.info["cmdline"] or [])
        ]
        self.last = self._totals()

    def _totals(self) -> tuple[float, float, float, float, float]:
        threads = {t.id: t.user_time + t.system_time for t in self.worker.threads()}
        loop = threads.pop(self.worker.pid, 0.0)
        brokers = 0.0
        for broker in self.brokers:
            try:
                times = broker.cpu_times()
                brokers += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        machine = psutil.cpu_times()
        return time.monotonic(), loop, sum(threads.values()), brokers, machine.idle

    def read(self) -> dict[str, float]:
        now = self._totals()
        elapsed = now[0] - self.last[0]
        shares = [(new - old) / elapsed for new, old in zip(now[1:], self.last[1:], strict=True)]
        self.last = now
        names = ("worker_loop_cores", "worker_other_threads_cores", "brokers_cores", "idle_cores")
        return {name: round(share, 2) for name, share in zip(names, shares, strict=True)}


def _drain(worker: LocalWorker, small: list[Sent], large: Sent, baseline: int) -> dict[str, Any]:
    """Wait until the worker has applied every book; RSS, windows and each book's throughput."""
    books = [*small, large]
    ends = list(itertools.accumulate(book.lines for book in books))  # applied when each book is done
    total = ends[-1]
    began = time.monotonic()
    windows: list[dict[str, Any]] = []
    peak, last_applied, last_change = baseline, 0, began
    window_start, window_applied = began, 0
    cpu, cpu_by_phase = CpuShares(worker), CpuShares(worker)
    cpu_small: dict[str, float] = {}
    done_at: list[float] = []  # when each book was applied, in order
    first_at: float | None = None  # when the worker had applied its first record
    with progress_bar("bench scale: the worker drains it", total) as advance:
        while True:
            time.sleep(SAMPLE_SECONDS)
            worker.check_running()
            peak = max(peak, _rss(worker))
            applied = worker.records_processed()
            advance(applied)
            now = time.monotonic()
            if first_at is None and applied:
                first_at = now - SAMPLE_SECONDS / 2  # it began within the last sample
            while len(done_at) < len(books) and applied >= ends[len(done_at)]:
                done_at.append(now)
                if len(done_at) == len(small):
                    cpu_small = cpu_by_phase.read()
            if applied > last_applied:
                last_applied, last_change = applied, now
            if now - window_start >= WINDOW_SECONDS:
                windows.append(
                    {
                        "from_s": round(window_start - began, 1),
                        "events_per_second": round((applied - window_applied) / (now - window_start), 1),
                        "users_seen": _users_seen(books, ends, applied),
                        **cpu.read(),
                    }
                )
                window_start, window_applied = now, applied
            if applied >= total or now - last_change > STALL_SECONDS:
                break
    ended = time.monotonic()
    done_at += [ended] * (len(books) - len(done_at))  # a stalled run: what it reached
    # Each book from the end of the one before; the first from the first record applied, not from
    # /ready: the consumer's first fetch is not the small store's throughput.
    seconds = [b - a for a, b in zip([first_at or began, *done_at], done_at, strict=False)]
    small_seconds = sum(seconds[:-1])
    small_rates = [round(book.lines / s, 1) if s else None for book, s in zip(small, seconds, strict=False)]
    small_lines = sum(book.lines for book in small)
    return {
        "applied": last_applied,
        "drain_seconds": round(ended - began, 1),
        "events_per_second": round(last_applied / (ended - began), 1),
        "rss_peak": peak,
        "windows": windows,
        "small_books_seconds": round(small_seconds, 2),
        "events_per_second_each_small_book": small_rates,
        "events_per_second_10k_users": round(small_lines / small_seconds, 1) if small_seconds else None,
        "large_book_seconds": round(seconds[-1], 2),
        "events_per_second_all_users": round(large.lines / seconds[-1], 1) if seconds[-1] else None,
        "cpu_10k_users": cpu_small,
        "cpu_all_users": cpu_by_phase.read(),
    }


def _users_seen(books: list[Sent], ends: list[int], applied: int) -> int:
    """The distinct users of the books the worker had applied ``applied`` records of."""
    seen, start = 0, 0
    for book, end in zip(books, ends, strict=True):
        if applied >= end:
            seen += book.curve[-1][1]
        else:
            seen += _users_by(book.curve, applied - start)
            break
        start = end
    return seen


def _probe(event_id: str, user: str) -> bytes:
    """A credit purchase dated now, after every simulated event (the worker refuses events dated
    ahead of their record): the decision it gets shows who decides."""
    return orjson.dumps(
        {"event_id": event_id, "type": "purchase", "user_id": user,
         "occurred_at": datetime.now(UTC).isoformat(timespec="seconds"),
         "amount": "10.00", "merchant_id": "merchant-1", "merchant_category": "groceries",
         "funding": "credit"}
    )  # fmt: skip


def _failover(
    bootstrap: str, prefix: str, first: LocalWorker, workdir: Path, users: dict[int, str], partitions: int
) -> dict[str, Any]:
    """A second worker joins with standby replicas; the first is SIGKILLed; seconds until the
    second has decided one request for a user of each partition."""
    second = LocalWorker(
        bootstrap, prefix, workdir / "state-second", workdir / "worker-second.log",
        partitions=partitions, extra_env=dict(first.extra_env),
    )  # fmt: skip
    began = time.monotonic()
    first.start(ready_timeout=600)
    second.start(ready_timeout=1800)
    joined = round(time.monotonic() - began, 2)
    wait_until(
        lambda: all(w.get("/ready")[0] == 200 for w in (first, second)),
        600,
        "both workers ready",
        interval=0.5,
    )
    standby_restored = second.metric_total("creditstream_restored_records_total")
    decisions = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    topic = prefix + DECISIONS.name
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    decisions.assign(tps)
    decisions.seek_to_end(*tps)
    for tp in tps:
        decisions.position(tp)
    run = uuid.uuid4().hex[:8]
    probes = {f"scale-probe-{run}-{p}": user for p, user in users.items()}
    try:
        killed_at = time.monotonic()
        first.kill()
        with CreditEventProducer(bootstrap, topic_prefix=prefix) as producer:
            for event_id, user in probes.items():
                producer.send_bytes("purchase", user, _probe(event_id, user))
        answered: dict[str, float] = {}
        deadline = killed_at + 300
        while len(answered) < len(probes) and time.monotonic() < deadline:
            for records in decisions.poll(timeout_ms=200).values():
                for record in records:
                    request = orjson.loads(record.value).get("request_event_id")
                    if request in probes and request not in answered:
                        answered[request] = round(time.monotonic() - killed_at, 2)
    finally:
        decisions.close()
        second.stop()
    return {
        "failover_join_seconds": joined,
        "failover_standby_records_restored": standby_restored,
        "failover_first_decision_seconds": min(answered.values()) if answered else None,
        "failover_every_partition_seconds": max(answered.values()) if len(answered) == len(probes) else None,
        "failover_partitions_answered": len(answered),
    }


def bench_scale(
    bootstrap: str,
    small_books: list[Path],
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
        extra_env={"CREDITSTREAM_MEMORY_MB": str(memory_mb), "CREDITSTREAM_STANDBY_REPLICAS": "1"},
    )  # fmt: skip
    changelog = f"{worker.group}-users-changelog"
    worker.start(ready_timeout=120)
    try:
        time.sleep(3)
        baseline = _rss(worker)
        worker.stop()
        small = [
            _send_book(bootstrap, prefix, path, partitions, f"book {n} of {SMALL_BOOK_USERS:,} users")
            for n, path in enumerate(small_books, 1)
        ]
        main = _send_book(bootstrap, prefix, book, partitions, f"{users:,} users")
        worker.start(ready_timeout=300)
        drained = _drain(worker, small, main, baseline)
        end_rss = _rss(worker)
        written = offsets_spanned(bootstrap, changelog)
        disk = _disk_bytes(state)
        worker.stop()
        warm = _time_to_ready(worker, 600)
        warm_rss = _rss(worker)
        worker.stop()
        shutil.rmtree(state)
        cold = _time_to_ready(worker, 1800)
        cold_rss = _rss(worker)
        restored = worker.metric_total("creditstream_restored_records_total")
        restore_seconds = worker.metric_value("creditstream_restore_seconds_total")
        worker.stop()
        failover = _failover(bootstrap, prefix, worker, workdir, main.last_user_by_partition, partitions)
    finally:
        worker.stop()
    population = users + sum(book.curve[-1][1] for book in small)
    peak = drained.pop("rss_peak")
    small_rate, large_rate = drained["events_per_second_10k_users"], drained["events_per_second_all_users"]
    budget_bytes = memory_mb * 1024 * 1024
    return {
        "users": population,
        "events": sum(book.lines for book in small) + main.lines,
        "small_books": len(small),
        "events_small_books": sum(book.lines for book in small),
        "events_large_book": main.lines,
        "partitions": partitions,
        "memory_mb": memory_mb,
        **drained,
        "ratio_all_users_to_10k": round(large_rate / small_rate, 3) if small_rate and large_rate else None,
        "rss_idle_mb": round(baseline / 2**20, 1),
        "rss_peak_mb": round(peak / 2**20, 1),
        "rss_end_mb": round(end_rss / 2**20, 1),
        "rss_peak_bytes_per_user": round((peak - baseline) / population),
        "within_budget": peak <= baseline + budget_bytes,
        "state_disk_mb": round(disk / 2**20, 1),
        "state_disk_bytes_per_user": round(disk / population),
        "changelog_records_written": written,
        "changelog_records_written_per_user": round(written / population, 2),
        # What the cold restore read is what the changelog held then, after the log cleaner.
        "changelog_records_per_user_at_cold_restore": round(restored / population, 2),
        "warm_restart_seconds": warm,
        "warm_restart_rss_mb": round(warm_rss / 2**20, 1),
        "cold_restore_seconds": cold,
        "cold_restore_rss_mb": round(cold_rss / 2**20, 1),
        "cold_restore_records": restored,
        "bulk_restore_seconds": round(restore_seconds, 2),
        "bulk_restore_records_per_second": round(restored / restore_seconds) if restore_seconds else None,
        **failover,
        "session_timeout_seconds": SESSION_TIMEOUT_SECONDS,
    }
