"""The invariant under faults, and the stream runner the fault tests share.

Invariant: per user and output type, the live outputs equal `creditstream replay` of the same
input log (dumped with --records), in order. A record may repeat only as an identical copy of one
replay also produced; nothing may be missing.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from schemas.producer import CreditEventProducer
from schemas.topics import DEAD_LETTER, EVENTS
from schemas.topics import OUTPUT_TOPICS as CATALOGUE_OUTPUTS
from streams.policy import default_policy
from streams.testing import LocalWorker, committed_behind, read_topic, wait_until
from streams.tools.dump import dump_topic
from streams.tools.replay import replay_lines

__all__ = ["FaultReport", "Verdict", "check_invariant", "send_lines", "write_report"]

OUTPUT_TOPICS = tuple(spec.name for spec in CATALOGUE_OUTPUTS)  # every output topic, as the catalogue says
REPORT_DIR = Path(".cache") / "faults"


@dataclass
class Verdict:
    """What comparing live with replay found."""

    users: int = 0
    live_records: int = 0
    replay_records: int = 0
    repeated_copies: int = 0  # identical repeats of a record replay also has (allowed)
    missing: list[str] = field(default_factory=list)  # in replay, not live
    unexpected: list[str] = field(default_factory=list)  # live, never produced by replay
    out_of_order: list[str] = field(default_factory=list)  # (user, type) whose order differs

    @property
    def holds(self) -> bool:
        return not (self.missing or self.unexpected or self.out_of_order)


@dataclass
class FaultReport:
    """What a fault run did and found: for the test's assertions and for the issue's note."""

    name: str
    events: int
    users: int
    kills: int = 0
    restarts: int = 0
    recovery_seconds: list[float] = field(default_factory=list)  # kill -> ready again
    redelivered_skipped: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    verdict: dict[str, Any] = field(default_factory=dict)


def _key(document: dict[str, Any]) -> str | None:
    return document.get("user_id") if document["type"] != "dead_letter" else document.get("key")


def _by_user_and_type(values: list[bytes]) -> dict[tuple[str, str], list[bytes]]:
    grouped: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    for value in values:
        document = orjson.loads(value)
        grouped[(str(_key(document)), document["type"])].append(value)
    return grouped


def _first_occurrences(values: list[bytes]) -> list[bytes]:
    return list(dict.fromkeys(values))


def check_invariant(worker: LocalWorker) -> Verdict:
    """Live outputs of the worker's topics against the replay of its input log."""
    bootstrap, prefix = worker.bootstrap, worker.prefix
    log = list(dump_topic(bootstrap, prefix + EVENTS.name, records=True))
    out = io.BytesIO()
    replay_lines(iter(log), out, default_policy())
    replayed = _by_user_and_type(out.getvalue().splitlines())
    live_values = [v for topic in OUTPUT_TOPICS for v in read_topic(bootstrap, prefix + topic)]
    live = _by_user_and_type(live_values)
    verdict = Verdict(
        users=len({user for user, _ in replayed}),
        live_records=len(live_values),
        replay_records=sum(len(v) for v in replayed.values()),
    )
    for group in sorted(set(live) | set(replayed)):
        expected, got = replayed.get(group, []), live.get(group, [])
        missing = set(expected) - set(got)
        unexpected = set(got) - set(expected)
        verdict.missing += [f"{group}: {m[:160]!r}" for m in sorted(missing)]
        verdict.unexpected += [f"{group}: {u[:160]!r}" for u in sorted(unexpected)]
        verdict.repeated_copies += max(0, len(got) - len(expected))
        if group[1] == "dead_letter":
            continue  # dead letters of one user may be keyed on several partitions: no defined order
        if not missing and not unexpected and _first_occurrences(got) != _first_occurrences(expected):
            verdict.out_of_order.append(str(group))
    return verdict


def send_lines(bootstrap: str, prefix: str, lines: list[bytes], rate: float | None) -> threading.Thread:
    """Produce the lines from a background thread (keyed by user, to credit.events)."""

    def run() -> None:
        interval = 1.0 / rate if rate else 0.0
        start = time.monotonic()
        with CreditEventProducer(bootstrap, topic_prefix=prefix) as producer:
            for index, line in enumerate(lines):
                if interval:
                    delay = start + index * interval - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                head = orjson.loads(line)
                producer.send_bytes(head["type"], head["user_id"], line)

    thread = threading.Thread(target=run, name="fault-producer", daemon=True)
    thread.start()
    return thread


def kill_and_restart(worker: LocalWorker, report: FaultReport) -> None:
    """SIGKILL the worker, start it again, and record how long until it was ready."""
    killed_at = time.monotonic()
    worker.kill()
    report.kills += 1
    worker.start(ready_timeout=120)
    report.restarts += 1
    report.recovery_seconds.append(round(time.monotonic() - killed_at, 2))


def run_with_kills(
    worker: LocalWorker, lines: list[bytes], kills: int, seed: int, report: FaultReport, rate: float | None
) -> None:
    """Stream the lines while killing the worker at ``kills`` random moments; wait until caught up."""
    rng = random.Random(seed)
    began = time.monotonic()
    producer = send_lines(worker.bootstrap, worker.prefix, lines, rate)
    # Random moments: after a random number of records processed by the running process.
    for _ in range(kills):
        target = rng.randint(len(lines) // (4 * kills), len(lines) // (kills + 1))

        def reached(target: int = target) -> bool:
            return worker.records_processed() >= target

        wait_until(reached, 600, f"{target} records processed")
        report.redelivered_skipped += worker.metric_total("creditstream_redelivered_total")
        kill_and_restart(worker, report)
    producer.join(600)
    # Commits must move on: a frozen commit (lag stuck after a restart) fails here.
    wait_until(
        lambda: committed_behind(worker.bootstrap, worker.group, worker.prefix + EVENTS.name) == 0,
        max(120, len(lines) / 100),
        "the worker to commit every input record",
    )
    report.redelivered_skipped += worker.metric_total("creditstream_redelivered_total")
    report.dead_letters = len(read_topic(worker.bootstrap, worker.prefix + DEAD_LETTER.name))
    report.seconds = round(time.monotonic() - began, 1)


def write_report(report: FaultReport, verdict: Verdict) -> Path:
    """Print the report and keep it as JSON under .cache/faults/ (the figures for the note)."""
    report.verdict = {
        "holds": verdict.holds,
        "users": verdict.users,
        "live_records": verdict.live_records,
        "replay_records": verdict.replay_records,
        "repeated_identical_copies": verdict.repeated_copies,
        "missing": len(verdict.missing),
        "unexpected": len(verdict.unexpected),
        "out_of_order": len(verdict.out_of_order),
    }
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / f"{report.name}.json"
    path.write_text(json.dumps(asdict(report), indent=2) + "\n")
    print(json.dumps(asdict(report)))
    return path
