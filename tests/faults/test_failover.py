"""Two workers, one SIGKILLed: the other takes over 100,000 users' state. Behind --run-slow.

Reports the recovery time: from the kill until the survivor owns every partition, is ready, and
answers for a user of the dead worker's partitions. faust keeps a standby replica of each table
partition on the other worker (table_standby_replicas, default 1), so the survivor does not read
the whole changelog again.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import orjson
import pytest

from schemas.producer import CreditEventProducer
from streams.policy import default_policy
from streams.processing import expected_partition
from streams.testing import LocalWorker, wait_until
from streams.tools.simulate import Simulation
from tests.faults.invariant import FaultReport, check_invariant, write_report
from tests.integration.worker_harness import caught_up

pytestmark = [pytest.mark.broker, pytest.mark.slow]

USERS = 100_000
PARTITIONS = 8


def opened(n: int) -> bytes:
    return orjson.dumps(
        {"type": "account_opened", "event_id": f"open-{n}", "user_id": f"fo-u{n:07d}",
         "occurred_at": "2024-01-02T09:00:00+08:00", "segment": "consumer",
         "monthly_income": str(3000 + n % 20000)}
    )  # fmt: skip


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("standby", [1, 0])
def test_one_of_two_workers_killed_the_other_takes_over_100000_users(
    bootstrap: str, tmp_path: Path, standby: int
) -> None:
    prefix = f"fo{uuid.uuid4().hex[:6]}."
    workers = [
        LocalWorker(
            bootstrap,
            prefix,
            tmp_path / f"state-{n}",
            tmp_path / f"worker-{n}.log",
            partitions=PARTITIONS,
            extra_env={
                "CREDITSTREAM_INSTANCE_ID": f"{prefix.strip('.')}-{n}",
                "CREDITSTREAM_STANDBY_REPLICAS": str(standby),
            },
        )
        for n in range(2)
    ]
    survivor, victim = workers
    activity = list(Simulation(300, 120, 17, default_policy(), id_prefix="fo-act-").lines())
    report = FaultReport(f"failover-100k-standby{standby}", events=USERS + len(activity), users=USERS + 300)
    try:
        for worker in workers:
            worker.start()
        wait_until(lambda: all(w.get("/ready")[0] == 200 for w in workers), 120, "both workers ready")
        with CreditEventProducer(bootstrap, topic_prefix=prefix, linger_ms=20) as producer:
            for n in range(USERS):
                producer.send_bytes("account_opened", f"fo-u{n:07d}", opened(n))
            for line in activity[: len(activity) // 2]:
                producer.send_bytes(orjson.loads(line)["type"], orjson.loads(line)["user_id"], line)
        wait_until(lambda: caught_up(survivor), 900, "100,000 users applied")

        victim_partitions = victim.get("/ready")[1]["assigned_partitions"]
        assert 0 < victim_partitions < PARTITIONS
        # A user the victim owns: on a partition the survivor does not have now.
        owned_by_survivor = survivor.get("/ready")[1]["assigned_partitions"]
        assert owned_by_survivor + victim_partitions == PARTITIONS
        killed_at = time.monotonic()
        victim.kill()
        report.kills = 1
        wait_until(
            lambda: (
                survivor.get("/ready")[0] == 200
                and survivor.get("/ready")[1]["assigned_partitions"] == PARTITIONS
            ),
            180,
            "the survivor to own every partition",
            interval=0.2,
        )
        # Every user answers from the survivor now (no routing to the dead worker).
        sample = [f"fo-u{n:07d}" for n in range(0, USERS, 997)]
        wait_until(lambda: all(survivor.get(f"/users/{u}")[0] == 200 for u in sample), 180, "every user")
        report.recovery_seconds.append(round(time.monotonic() - killed_at, 2))

        with CreditEventProducer(bootstrap, topic_prefix=prefix) as producer:
            for line in activity[len(activity) // 2 :]:
                producer.send_bytes(orjson.loads(line)["type"], orjson.loads(line)["user_id"], line)
        wait_until(lambda: caught_up(survivor), 300, "the rest applied by the survivor")
        partitions_seen = {expected_partition(u.encode(), PARTITIONS) for u in sample}
        assert partitions_seen == set(range(PARTITIONS))
    finally:
        for worker in workers:
            worker.stop()
    verdict = check_invariant(survivor)
    write_report(report, verdict)
    assert verdict.holds, (verdict.missing[:3], verdict.unexpected[:3], verdict.out_of_order[:3])
    assert report.recovery_seconds[0] < 60
