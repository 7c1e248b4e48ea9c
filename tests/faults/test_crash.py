"""Crashes: SIGKILL the worker mid-stream, restart it, and hold live to replay of the same input.

The quick runs are always in the suite; the 50,000-event run is behind --run-slow. Each writes its
figures to .cache/faults/NAME.json (events, kills, restarts, recovery seconds, what was lost).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest

from schemas.producer import CreditEventProducer
from schemas.topics import EVENTS
from streams.policy import default_policy
from streams.testing import LocalWorker, committed_behind, wait_until
from streams.tools.simulate import Simulation
from tests.faults.invariant import FaultReport, check_invariant, run_with_kills, write_report

pytestmark = pytest.mark.broker


def make_worker(bootstrap: str, tmp_path: Path, name: str, **env: str) -> LocalWorker:
    prefix = f"{name}{uuid.uuid4().hex[:6]}."
    return LocalWorker(
        bootstrap,
        prefix,
        tmp_path / "state",
        tmp_path / "worker.log",
        # Static membership: the restarted worker gets its partitions back without waiting for
        # the dead member's session to expire.
        extra_env={"CREDITSTREAM_INSTANCE_ID": prefix.strip(".") + "-0", **env},
    )


def simulated(events: int, seed: int, id_prefix: str) -> list[bytes]:
    users = max(20, events // 60)
    return list(Simulation(users, 400, seed, default_policy(), id_prefix=id_prefix).lines())[:events]


def crash_run(bootstrap: str, tmp_path: Path, name: str, events: int, kills: int, seed: int) -> None:
    worker = make_worker(bootstrap, tmp_path, name)
    lines = simulated(events, seed, f"{name}-")
    report = FaultReport(name, events=len(lines), users=len({orjson.loads(x)["user_id"] for x in lines}))
    try:
        worker.start()
        run_with_kills(worker, lines, kills, seed, report, rate=None)
    finally:
        worker.stop()
    verdict = check_invariant(worker)
    write_report(report, verdict)
    assert report.kills == report.restarts == kills
    assert verdict.missing == [], verdict.missing[:5]
    assert verdict.unexpected == [], verdict.unexpected[:5]
    assert verdict.out_of_order == [], verdict.out_of_order[:5]
    assert verdict.replay_records > 0
    # Restarts rejoin in seconds (static membership), not after a 60 s session expiry.
    assert max(report.recovery_seconds) < 45, report.recovery_seconds


def test_sigkill_twice_during_a_stream_loses_nothing_and_repeats_only_identical_copies(
    bootstrap: str, tmp_path: Path
) -> None:
    crash_run(bootstrap, tmp_path, "crash-quick", events=8_000, kills=2, seed=7)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_sigkill_at_three_random_moments_of_a_50000_event_stream(bootstrap: str, tmp_path: Path) -> None:
    crash_run(bootstrap, tmp_path, "crash-50k", events=50_000, kills=3, seed=11)


def test_a_user_with_1000_events_between_two_commits_is_not_applied_twice(
    bootstrap: str, tmp_path: Path
) -> None:
    """The id memory holds 128 events; the offset in the state covers any number since a commit."""
    worker = make_worker(bootstrap, tmp_path, "burst", CREDITSTREAM_COMMIT_INTERVAL_SECONDS="3600")
    user = "burst-u1"
    start = "2024-03-01T10:00:00+08:00"
    lines = [
        orjson.dumps(
            {"type": "account_opened", "event_id": "open", "user_id": user, "occurred_at": start,
             "segment": "consumer", "monthly_income": "9000.00"}
        )
    ] + [
        orjson.dumps(
            {"type": "purchase", "event_id": f"p-{n}", "user_id": user,
             "occurred_at": f"2024-03-{1 + n // 40:02d}T{10 + (n % 40) // 4:02d}:{(n % 4) * 15:02d}:00+08:00",
             "amount": "1.00", "merchant_id": "m-1", "merchant_category": "grocery",
             "funding": "credit" if n % 2 else "own"}
        )
        for n in range(999)
    ]  # fmt: skip
    report = FaultReport("burst-1000", events=len(lines), users=1)
    try:
        worker.start()
        with CreditEventProducer(worker.bootstrap, topic_prefix=worker.prefix) as producer:
            for line in lines:
                producer.send_bytes(orjson.loads(line)["type"], user, line)
        wait_until(lambda: worker.records_processed() >= len(lines), 120, "all 1,000 records processed")
        # Not one offset committed (the interval is an hour): a crash now redelivers all 1,000.
        assert committed_behind(worker.bootstrap, worker.group, worker.prefix + EVENTS.name) == len(lines)
        worker.kill()
        report.kills = 1
        worker.extra_env["CREDITSTREAM_COMMIT_INTERVAL_SECONDS"] = "1"
        worker.start()
        report.restarts = 1
        wait_until(
            lambda: committed_behind(worker.bootstrap, worker.group, worker.prefix + EVENTS.name) == 0,
            120,
            "the redelivered records committed",
        )
        status, view = worker.get(f"/users/{user}")
        redelivered = worker.records_processed()
    finally:
        worker.stop()
    verdict = check_invariant(worker)
    report.redelivered_skipped = redelivered
    write_report(report, verdict)
    assert status == 200
    assert verdict.holds, (verdict.missing[:3], verdict.unexpected[:3], verdict.out_of_order[:3])
    # Each credit purchase of 1.00 was booked once (not twice, as an id memory of 128 would allow).
    credit_purchases = sum(1 for line in lines if b'"funding":"credit"' in line)
    assert credit_purchases == 499
    assert view["products"]["bnpl"]["outstanding"] == f"{credit_purchases}.00"
    assert redelivered == len(lines)  # every record came again, and each was recognised by its offset
