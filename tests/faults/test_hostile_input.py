"""Hostile input, contained: over 1,000 bad messages interleaved with good ones on the real broker.

Every bad message is dead-lettered with a reason, every good request is decided, the worker stays
ready, its memory stays bounded, metric labels stay a closed set, nothing stalls a partition, and
the live outputs still equal the replay of the input log.
"""

from __future__ import annotations

import random
import re
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from schemas.codec import DecodeError, decode_event
from schemas.topics import DEAD_LETTER, DECISIONS, EVENTS
from streams.policy import default_policy
from streams.processing import DEAD_LETTER_KINDS, expected_partition
from streams.testing import LocalWorker, committed_behind, read_topic, wait_until
from streams.tools.simulate import Simulation
from tests.faults.invariant import FaultReport, check_invariant, write_report

pytestmark = pytest.mark.broker

PARTITIONS = 4


def _bad_messages(good: list[bytes], rng: random.Random) -> list[tuple[bytes | None, bytes, int | None, str]]:
    """(key, value, partition or None, the kind of dead letter it must give), 1,100 of them."""
    users = sorted({orjson.loads(line)["user_id"] for line in good})
    purchase = orjson.loads(next(line for line in good if b'"purchase"' in line))
    bad: list[tuple[bytes | None, bytes, int | None, str]] = []

    def event(n: int, **changes: object) -> dict[str, object]:
        return {**purchase, "event_id": f"bad-{n}", **changes}

    for n in range(1100):
        user = rng.choice(users)
        key = user.encode()
        line = rng.choice(good)
        kind = n % 14
        if kind == 0:
            bad.append((key, line[: rng.randint(1, len(line) - 2)], None, "not_json"))  # truncated
        elif kind == 1:
            depth = 100_000 if n % 140 == 1 else rng.randint(200, 5000)
            bad.append((key, b"[" * depth + b"]" * depth, None, "not_json"))  # deep nesting
        elif kind == 2:
            raw = orjson.dumps(event(n, user_id=user)).replace(b'"amount":"', b'"amount":NaN,"x":"')
            bad.append((key, raw, None, "not_json"))
        elif kind == 3:
            raw = orjson.dumps(event(n, user_id=user)).replace(b'"amount":"', b'"amount":Infinity,"x":"')
            bad.append((key, raw, None, "not_json"))
        elif kind == 4:
            raw = orjson.dumps(event(n, user_id=user)).replace(b'"amount":"', b'"amount":1e400,"x":"')
            bad.append((key, raw, None, "invalid_event"))
        elif kind == 5:
            bad.append((key, line[:20] + b"\xff\xfe" + line[20:], None, "not_utf8"))
        elif kind == 6:
            bad.append((key, b"", None, "empty"))
        elif kind == 7:
            amount = rng.choice(["-5", "0", "0.001", "99999999999", "1e9", "abc", ""])
            bad.append((key, orjson.dumps(event(n, user_id=user, amount=amount)), None, "invalid_event"))
        elif kind == 8:
            when = rng.choice(["9999-12-31T00:00:00Z", "1900-01-01T00:00:00Z", "0001-01-01T00:00:00Z"])
            bad.append(
                (key, orjson.dumps(event(n, user_id=user, occurred_at=when)), None, "implausible_date")
            )
        elif kind == 9:
            bad.append((key, orjson.dumps(event(n, user_id=user, occurred_at="2026-13-45T00:00:00Z")), None,
                        "invalid_event"))  # fmt: skip
        elif kind == 10:
            bad.append((None, orjson.dumps(event(n, user_id=user)), 0, "key_missing"))
        elif kind == 11:
            other = rng.choice([u for u in users if u != user])
            right = expected_partition(other.encode(), PARTITIONS)
            bad.append((other.encode(), orjson.dumps(event(n, user_id=user)), right, "key_mismatch"))
        elif kind == 12:
            wrong = (expected_partition(key, PARTITIONS) + 1) % PARTITIONS
            bad.append((key, orjson.dumps(event(n, user_id=user)), wrong, "wrong_partition"))
        else:
            size = rng.choice([65_535, 65_537, 300_000, 999_000])  # around the dead letter's raw limit
            raw = b'{"junk":"' + b"x" * (size - 11) + b'"}'
            bad.append((key, raw, None, "invalid_event"))
    return bad


def _kind(value: bytes) -> str:
    decoded = decode_event(value)
    assert isinstance(decoded, DecodeError), value[:100]
    return decoded.kind


def test_a_thousand_bad_messages_are_each_dead_lettered_and_nothing_else_changes(
    bootstrap: str, tmp_path: Path
) -> None:
    prefix = f"hostile{uuid.uuid4().hex[:6]}."
    worker = LocalWorker(
        bootstrap, prefix, tmp_path / "state", tmp_path / "worker.log", partitions=PARTITIONS
    )
    rng = random.Random(3)
    good = list(Simulation(40, 90, 8, default_policy(), id_prefix="hst-").lines())
    # A valid purchase padded with whitespace to about 900 KB: valid, so decided like any other.
    padded_user = orjson.loads(good[0])["user_id"]
    padded = orjson.dumps(
        {"type": "purchase", "event_id": "padded-1", "user_id": padded_user,
         "occurred_at": "2024-03-30T12:00:00+08:00", "amount": "12.00", "merchant_id": "m-1",
         "merchant_category": "grocery", "funding": "credit"}
    )[:-1] + b" " * 900_000 + b"}"  # fmt: skip
    bad = _bad_messages(good, rng)
    report = FaultReport("hostile-input", events=len(good) + 1 + len(bad), users=40)
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=1_048_000, linger_ms=5)
    try:
        worker.start()
        topic = prefix + EVENTS.name
        queue: list[tuple[bytes | None, bytes, int | None, str]] = [
            (orjson.loads(x)["user_id"].encode(), x, None, "") for x in good
        ]
        for item in bad:  # interleaved at random places, good lines keep their order
            queue.insert(rng.randint(0, len(queue)), item)
        queue.insert(len(queue) // 2, (padded_user.encode(), padded, None, ""))
        for key, value, partition, _ in queue:
            producer.send(topic, key=key, value=value, partition=partition)
        producer.flush()
        wait_until(
            lambda: committed_behind(bootstrap, worker.group, topic) == 0, 300, "every record committed"
        )
        status, ready = worker.get("/ready")
        _, metrics = worker.get("/metrics")
        rss_kib = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{worker.process.pid}/status").read_text())[1])  # type: ignore[union-attr,index]
    finally:
        producer.close()
        worker.stop()

    assert status == 200 and ready["ready"] is True
    assert rss_kib < 700 * 1024, f"worker RSS {rss_kib} KiB"
    dead = [orjson.loads(v) for v in read_topic(bootstrap, prefix + DEAD_LETTER.name)]
    report.dead_letters = len(dead)
    assert len(dead) == len(bad)
    assert all(d["error"] for d in dead)
    assert max(len(orjson.dumps(d)) for d in dead) < 200_000  # cut to fit, whatever came in
    assert any(d["raw_truncated"] and "bytes; raw keeps the first" in d["error"] for d in dead)
    # Envelope and date checks have the kind the test asked for; a broken body has its decoder's.
    expected_kinds = Counter(
        kind
        if kind in ("key_missing", "key_mismatch", "wrong_partition", "implausible_date")
        else _kind(value)
        for _, value, _, kind in bad
    )
    for kind, count in expected_kinds.items():
        counted = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith(f'creditstream_dead_letters_total{{reason="{kind}"}}')
        )
        assert counted == count, (kind, counted, count)
    # Labels stay closed sets, and /metrics stays small.
    labels = set(re.findall(r'creditstream_dead_letters_total\{reason="([^"]+)"\}', metrics))
    assert labels <= set(DEAD_LETTER_KINDS)
    types = set(re.findall(r'creditstream_events_total\{topic="[^"]+",type="([^"]+)"\}', metrics))
    assert types <= {*EVENTS.event_types, "unknown"}
    assert len(metrics) < 200_000

    requests = [orjson.loads(x) for x in good]
    request_ids = {
        r["event_id"] for r in requests if r["type"] == "application" or r.get("funding") == "credit"
    }
    decided = [orjson.loads(v)["request_event_id"] for v in read_topic(bootstrap, prefix + DECISIONS.name)]
    assert sorted(decided) == sorted(request_ids | {"padded-1"})

    verdict = check_invariant(worker)
    write_report(report, verdict)
    assert verdict.holds, (verdict.missing[:3], verdict.unexpected[:3], verdict.out_of_order[:3])
