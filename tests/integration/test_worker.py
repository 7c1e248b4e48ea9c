"""The live worker on the real broker: outputs equal the replay of its input log byte for byte,
duplicates change nothing, malformed messages are dead-lettered without stopping anything, the web
endpoints and metrics answer, and a restart (with its local state wiped) loses nothing and applies
nothing twice.
"""

from __future__ import annotations

import re
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType

from schemas.producer import CreditEventProducer
from schemas.topics import DEAD_LETTER, DECISIONS, EVENTS, SHADOW_DECISIONS, TRANSACTIONS
from streams.engine import ENGINE
from streams.explain.texts import text_of
from streams.policy import DEFAULT_POLICY_PATH, default_policy
from streams.testing import offsets_spanned
from streams.tools.simulate import Simulation
from streams.worker.app import CHANGELOG_TOPIC_CONFIGS
from tests.integration.worker_harness import (
    Worker,
    caught_up,
    live_outputs,
    outputs_by_user,
    read_topic,
    wait_until,
)

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    prefix = f"w{uuid.uuid4().hex[:8]}."
    directory = tmp_path_factory.mktemp("worker")
    # Shadow mode on: every test below that compares live outputs with a champion-only replay also
    # shows that the challenger never changes state.
    challenger = {"CREDITSTREAM_CHALLENGER_POLICY": str(DEFAULT_POLICY_PATH.parent / "stricter.toml")}
    running = Worker(bootstrap, prefix, directory / "state", directory / "worker.log", extra_env=challenger)
    # Topics exist before the first message: the worker creates them at start.
    running.start()
    yield running
    running.stop()


def simulate(id_prefix: str, users: int = 30, days: int = 60, seed: int = 5) -> list[bytes]:
    return list(Simulation(users, days, seed, default_policy(), id_prefix=id_prefix).lines())


def users_of(lines: list[bytes]) -> set[str]:
    return {orjson.loads(line)["user_id"] for line in lines}


def send(worker: Worker, lines: list[bytes], twice: bool = False) -> None:
    with CreditEventProducer(worker.bootstrap, topic_prefix=worker.prefix) as producer:
        for line in lines:
            head = orjson.loads(line)
            for _ in range(2 if twice else 1):
                producer.send_bytes(head["type"], head["user_id"], line)


def replay_input_log(worker: Worker, tmp_path: Path) -> list[bytes]:
    """`creditstream dump credit.events --records` then `creditstream replay`, as a user would."""
    log = tmp_path / "events.jsonl"
    dumped = worker.run_cli("dump", EVENTS.name, "--records", "--out", str(log))
    assert dumped.returncode == 0, dumped.stderr
    replayed = worker.run_cli("replay", str(log))
    assert replayed.returncode == 0, replayed.stderr
    return replayed.stdout.splitlines()


def wait_for_outputs(worker: Worker, users: set[str], tmp_path: Path) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """Wait until everything was applied and every expected output is out; (live, replayed) by user."""
    wait_until(lambda: caught_up(worker), 120, "the worker to commit every input record")
    expected = outputs_by_user(replay_input_log(worker, tmp_path), users)
    total = sum(len(v) for v in expected.values())

    def live_complete() -> bool:
        return (
            sum(
                len(v) for v in outputs_by_user(live_outputs(worker.bootstrap, worker.prefix), users).values()
            )
            >= total
        )

    wait_until(live_complete, 60, f"{total} outputs")
    return outputs_by_user(live_outputs(worker.bootstrap, worker.prefix), users), expected


def test_live_outputs_equal_replay_of_the_input_log_byte_for_byte(worker: Worker, tmp_path: Path) -> None:
    lines = simulate("e2e-")
    users = users_of(lines)
    send(worker, lines)
    live, replayed = wait_for_outputs(worker, users, tmp_path)
    assert sum(len(v) for k, v in live.items() if k[1] == "decision") > 50
    assert live == replayed
    # Every request got exactly one decision.
    requests = [orjson.loads(x) for x in lines]
    requests = [r for r in requests if r["type"] == "application" or r.get("funding") == "credit"]
    decided = [orjson.loads(d)["request_event_id"] for k, v in live.items() if k[1] == "decision" for d in v]
    assert sorted(decided) == sorted(r["event_id"] for r in requests)


def test_every_event_sent_twice_changes_nothing(worker: Worker, tmp_path: Path) -> None:
    lines = simulate("dup-", users=15, seed=9)
    users = users_of(lines)
    send(worker, lines, twice=True)
    live, replayed = wait_for_outputs(worker, users, tmp_path)
    assert live == replayed

    # Re-emitted decisions are byte-identical copies: same decision_id, same everything.
    decisions = [d for k, v in live.items() if k[1] == "decision" for d in v]
    by_id: dict[str, set[bytes]] = {}
    for raw in decisions:
        by_id.setdefault(orjson.loads(raw)["decision_id"], set()).add(raw)
    assert all(len(copies) == 1 for copies in by_id.values())
    assert len(decisions) == 2 * len(by_id)

    # The final state is what the events sent once give.
    once = tmp_path / "once.jsonl"
    once.write_bytes(b"\n".join(lines) + b"\n")
    single = worker.run_cli("replay", str(once))
    single_outputs = outputs_by_user(single.stdout.splitlines(), users)
    for user in users:
        status, view = worker.get(f"/users/{user}")
        assert status == 200
        scores = [orjson.loads(s)["score"] for s in single_outputs.get((user, "score_changed"), [])]
        assert view["score"] == scores[-1]
        for key in ("score_changed", "limit_changed"):
            assert live.get((user, key)) == single_outputs.get((user, key))


MALFORMED = [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[1, 2, 3]", "expected a JSON object"),
    (b'{"event_id": "bad-1", "type": "purchase", "user_id": "mal-u0000000"}', "Field required"),
    (b'{"event_id": "bad-2", "type": "application", "user_id": "mal-u0000000", '
     b'"occurred_at": "2026-01-05T10:00:00+08:00", "product": "cash_loan", "amount": "-5", "term_months": 6}',
     "amount: must be greater than 0"),
    (b'{"event_id": "bad-3", "type": "sale", "user_id": "mal-u0000001", '
     b'"occurred_at": "2026-01-05T10:00:00Z", "amount": "10", "colour": "red"}', "colour: unknown field"),
]  # fmt: skip


def test_malformed_messages_are_dead_lettered_and_good_ones_still_decided(
    worker: Worker, tmp_path: Path
) -> None:
    _, before = worker.get("/metrics")
    lines = simulate("mal-", users=6, days=20, seed=3)
    users = users_of(lines)
    with CreditEventProducer(worker.bootstrap, topic_prefix=worker.prefix) as producer:
        for index, line in enumerate(lines):
            head = orjson.loads(line)
            producer.send_bytes(head["type"], head["user_id"], line)
            if index % 10 == 0 and index // 10 < len(MALFORMED):
                raw, _ = MALFORMED[index // 10]
                producer.send_bytes("purchase", "mal-u0000000", raw)
        # A valid event keyed by another user: it would land on the wrong partition.
        producer._producer.send(worker.prefix + TRANSACTIONS.name, key=b"someone-else", value=lines[-1])

    wait_until(
        lambda: len(read_topic(worker.bootstrap, worker.prefix + DEAD_LETTER.name)) >= len(MALFORMED) + 1,
        90,
        "the dead letters",
    )
    dead = [orjson.loads(v) for v in read_topic(worker.bootstrap, worker.prefix + DEAD_LETTER.name)]
    for _, words in MALFORMED:
        matches = [d for d in dead if words in d["error"]]
        assert matches, f"no dead letter saying {words!r}: {[d['error'] for d in dead]}"
        letter = matches[0]
        assert letter["source_topic"] == worker.prefix + EVENTS.name
        assert letter["partition"] is not None and letter["offset"] is not None
        assert letter["received_at"] is not None
    assert any("does not match user_id" in d["error"] for d in dead)

    live, replayed = wait_for_outputs(worker, users, tmp_path)
    # Replayed from whole records, even the dead letters are the same: same reasons, same positions.
    assert live == replayed
    requests = [orjson.loads(x) for x in lines]
    requests = [r for r in requests if r["type"] == "application" or r.get("funding") == "credit"]
    decided = [orjson.loads(d)["request_event_id"] for k, v in live.items() if k[1] == "decision" for d in v]
    assert sorted(decided) == sorted(r["event_id"] for r in requests)
    status, detail = worker.get("/ready")
    assert status == 200 and detail["ready"] is True

    _, after = worker.get("/metrics")
    for kind in ("not_json", "not_utf8", "not_object", "invalid_event", "key_mismatch"):
        assert _metric(after, "creditstream_dead_letters_total", f'reason="{kind}"') > _metric(
            before, "creditstream_dead_letters_total", f'reason="{kind}"'
        )


def test_web_endpoints_and_metrics_answer_as_documented(worker: Worker, tmp_path: Path) -> None:
    assert worker.get("/health") == (200, {"status": "up"})
    status, ready = worker.get("/ready")
    assert status == 200 and ready["assigned_partitions"] > 0 and ready["recovery_completed"]

    _, before = worker.get("/metrics")
    lines = simulate("web-", users=5, days=15, seed=11)
    users = users_of(lines)
    send(worker, lines)
    wait_for_outputs(worker, users, tmp_path)

    user = sorted(users)[0]
    status, view = worker.get(f"/users/{user}")
    assert status == 200
    assert view["user_id"] == user and 350 <= view["score"] <= 950
    assert set(view["products"]) == {"bnpl", "cash_loan", "installment_loan", "business_loan"}
    assert {"offer", "reasons", "limit", "outstanding", "available", "days_past_due"} <= set(
        view["products"]["bnpl"]
    )
    # Per product, the offer and its reasons with their texts, in the language asked for.
    status, in_chinese = worker.get(f"/users/{user}?lang=zh")
    assert status == 200 and in_chinese["language"] == "zh"
    merchant_loan = in_chinese["products"]["business_loan"]
    if view["segment"] == "consumer":
        assert merchant_loan["offer"] == "not_offered"
        assert merchant_loan["reasons"] == [
            {"code": "NOT_MERCHANT", "text": text_of("decision", "NOT_MERCHANT", "zh")}
        ]
    assert worker.get(f"/users/{user}?lang=fr")[0] == 400
    assert worker.get("/users/nobody-at-all")[0] == 404

    _, after = worker.get("/metrics")
    assert _metric(after, "creditstream_events_total") > _metric(before, "creditstream_events_total")
    # Every record applied came in a batch, and was counted in its batch's size once.
    assert _metric(after, "creditstream_batch_records_sum") - _metric(
        before, "creditstream_batch_records_sum"
    ) == _metric(after, "creditstream_events_total") - _metric(before, "creditstream_events_total")
    assert _metric(after, "creditstream_decisions_total") > _metric(before, "creditstream_decisions_total")
    assert _metric(after, "creditstream_event_to_decision_seconds_count") > _metric(
        before, "creditstream_event_to_decision_seconds_count"
    )
    assert _metric(after, "creditstream_score_changes_total") > _metric(
        before, "creditstream_score_changes_total"
    )
    # The lag gauge is refreshed by a timer every few seconds from the consumer's high-water marks.
    wait_until(lambda: "creditstream_consumer_lag{" in worker.get("/metrics")[1], 20, "the lag gauge")
    # Only creditstream's own metrics: faust's sensor (20-25% of throughput) is not installed.
    assert "faust_" not in after
    version = default_policy().version
    build = rf'creditstream_build_info{{engine="{ENGINE}",policy_version="{version}",version="[^"]+"}} 1\.0'
    assert re.search(build, after), after


def test_a_restart_with_its_state_wiped_recovers_and_applies_nothing_twice(
    bootstrap: str, tmp_path: Path
) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}."
    running = Worker(bootstrap, prefix, tmp_path / "state", tmp_path / "worker.log")
    lines = simulate("rst-", users=12, days=40, seed=21)
    users = users_of(lines)
    half = len(lines) // 2
    try:
        running.start()
        send(running, lines[:half])
        wait_until(lambda: caught_up(running), 90, "the first half")
        running.stop()
        # Wipe the local RocksDB: the table must come back from its changelog topic, read in bulk
        # (streams.worker.restore) before the worker says it is ready.
        shutil.rmtree(tmp_path / "state")
        # Every record written (the log cleaner has not run: segments roll after 10 minutes).
        changelog = offsets_spanned(bootstrap, f"{running.group}-users-changelog")
        running.start()
        assert running.metric_total("creditstream_restored_records_total") == changelog > 0
        send(running, lines[half:])
        live, replayed = wait_for_outputs(running, users, tmp_path)
    finally:
        running.stop()
    # None lost, none applied twice: every request decided exactly once, and all equal to replay.
    requests = [orjson.loads(x)["event_id"] for x in lines]
    requests = [r for r, x in zip(requests, lines, strict=True) if b'"application"' in x or b'"credit"' in x]
    decided = [orjson.loads(d)["request_event_id"] for k, v in live.items() if k[1] == "decision" for d in v]
    assert sorted(decided) == sorted(requests)
    assert live == replayed


def test_shadow_mode_decides_every_request_with_the_challenger(worker: Worker, tmp_path: Path) -> None:
    lines = simulate("shd-", users=10, days=30, seed=13)
    users = users_of(lines)
    send(worker, lines)
    live, _ = wait_for_outputs(worker, users, tmp_path)
    champion = {
        orjson.loads(d)["decision_id"]: orjson.loads(d)
        for k, v in live.items()
        if k[1] == "decision"
        for d in v
    }

    def shadow() -> dict[str, dict[str, object]]:
        values = read_topic(worker.bootstrap, worker.prefix + SHADOW_DECISIONS.name)
        decoded = [orjson.loads(v) for v in values]
        return {d["decision_id"]: d for d in decoded if d["user_id"] in users}

    wait_until(lambda: len(shadow()) >= len(champion), 60, "the shadow decisions")
    challenger = shadow()
    assert set(challenger) == set(champion)  # one shadow decision per request, joined by decision_id
    assert {d["policy_version"] for d in challenger.values()} == {"2026.11-stricter"}
    assert {d["policy_version"] for d in champion.values()} == {default_policy().version}
    _, metrics = worker.get("/metrics")
    assert _metric(metrics, "creditstream_shadow_decisions_total") >= len(challenger)


def test_produce_sends_valid_lines_and_reports_invalid_ones(worker: Worker, tmp_path: Path) -> None:
    lines = simulate("prd-", users=4, days=10, seed=17)
    users = users_of(lines)
    bad = [b'{"event_id": "x-1", "type": "purchase", "user_id": "prd-u0000000"}', b"not json"]
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join([lines[0], bad[0], *lines[1:], bad[1]]) + b"\n")

    result = worker.run_cli("produce", str(log))
    assert result.returncode == 0, result.stderr
    assert f"produce: {len(lines)} sent, 2 invalid".encode() in result.stderr
    assert b"line 2: occurred_at: Field required" in result.stderr
    assert f"line {len(lines) + 2}: not valid JSON".encode() in result.stderr
    wait_for_outputs(worker, users, tmp_path)
    dead_before = len(read_topic(worker.bootstrap, worker.prefix + DEAD_LETTER.name))

    # --send-invalid sends them too, for testing the dead-letter path.
    invalid_only = tmp_path / "invalid.jsonl"
    invalid_only.write_bytes(b"\n".join(bad) + b"\n")
    sent = worker.run_cli("produce", str(invalid_only), "--send-invalid")
    assert sent.returncode == 0 and b"2 sent, 2 invalid" in sent.stderr
    wait_until(
        lambda: len(read_topic(worker.bootstrap, worker.prefix + DEAD_LETTER.name)) >= dead_before + 2,
        60,
        "the two dead letters",
    )


def test_produce_refuses_a_missing_file(worker: Worker, tmp_path: Path) -> None:
    result = worker.run_cli("produce", str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2 and b"cannot read input file" in result.stderr


def _metric(text: str, name: str, label: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
        if match and label in (match.group(1) or ""):
            total += float(match.group(2))
    return total


def test_users_are_answered_by_either_worker_of_a_group(bootstrap: str, tmp_path: Path) -> None:
    """Two workers share the partitions; each answers /users/{id} for every user, routing the
    request to the worker that owns it when it does not."""
    prefix = f"g{uuid.uuid4().hex[:8]}."
    first = Worker(bootstrap, prefix, tmp_path / "state-a", tmp_path / "a.log")
    second = Worker(bootstrap, prefix, tmp_path / "state-b", tmp_path / "b.log")
    lines = simulate("grp-", users=16, days=10, seed=23)
    users = users_of(lines)
    try:
        first.start()
        second.start()
        wait_until(lambda: first.get("/ready")[0] == second.get("/ready")[0] == 200, 90, "both workers ready")
        assigned = [
            first.get("/ready")[1]["assigned_partitions"],
            second.get("/ready")[1]["assigned_partitions"],
        ]
        assert all(count > 0 for count in assigned), assigned  # the partitions are split between them
        send(first, lines)
        wait_until(lambda: caught_up(first), 90, "the events")
        for user in sorted(users):
            status_a, view_a = first.get(f"/users/{user}")
            status_b, view_b = second.get(f"/users/{user}")
            assert (status_a, status_b) == (200, 200), (user, view_a, view_b)
            assert view_a == view_b
            assert view_a["user_id"] == user
    finally:
        first.stop()
        second.stop()


def test_users_needs_the_bearer_token_when_one_is_set(bootstrap: str, tmp_path: Path) -> None:
    prefix = f"tok{uuid.uuid4().hex[:8]}."
    token = "a-long-enough-test-token"
    running = Worker(
        bootstrap, prefix, tmp_path / "state", tmp_path / "w.log", extra_env={"CREDITSTREAM_API_TOKEN": token}
    )
    lines = simulate("tok-", users=2, days=5, seed=29)
    user = sorted(users_of(lines))[0]
    try:
        running.start()
        send(running, lines)
        wait_until(lambda: caught_up(running), 90, "the events")
        assert running.get(f"/users/{user}")[0] == 401
        assert (
            running.get(f"/users/{user}", headers={"Authorization": "Bearer wrong-token-of-some-length"})[0]
            == 401
        )
        status, view = running.get(f"/users/{user}", headers={"Authorization": f"Bearer {token}"})
        assert status == 200 and view["user_id"] == user
        assert running.get("/ready")[0] == 200 and running.get("/health")[0] == 200  # probes stay open
    finally:
        running.stop()


def test_the_start_line_says_which_engine_runs(worker: Worker) -> None:
    """An operator reads from the log whether the compiled build was picked up (the image adopts one)."""
    assert ENGINE in ("compiled", "python")  # the worker runs in this environment, as the metric test says
    text = worker.log_path.read_text(errors="replace")
    shadow = r"(, challenger \S+ in shadow mode)?"
    line = rf"\[INFO\] creditstream worker \S+: policy \S+{shadow}, engine {ENGINE}, web on http://"
    assert re.search(line, text), text[:2000]


def test_the_log_names_no_user_above_debug(worker: Worker, tmp_path: Path) -> None:
    """Personal data (user ids, amounts in events) stays out of logs at INFO and above."""
    lines = simulate("pii-", users=5, days=20, seed=31)
    send(worker, lines)
    wait_for_outputs(worker, users_of(lines), tmp_path)
    text = worker.log_path.read_text(errors="replace")
    assert not [user for user in users_of(lines) if user in text]
    assert "pii-u" not in text


def is_credit_request(event: dict[str, Any]) -> bool:
    """An event the engine answers with a decision: an application, or a purchase on credit."""
    return bool(event["type"] == "application" or (event["type"] == "purchase" and event["funding"] != "own"))


def test_a_decision_is_not_held_for_the_producers_linger(bootstrap: str, tmp_path: Path) -> None:
    """With a linger of 1 s, decisions still reach Kafka in a fraction of it: a batch sends its
    outputs when it is done, rather than when the linger runs out."""
    prefix = f"lg{uuid.uuid4().hex[:8]}."
    running = Worker(
        bootstrap,
        prefix,
        tmp_path / "state",
        tmp_path / "w.log",
        extra_env={"CREDITSTREAM_PRODUCER_LINGER_MS": "1000"},
    )
    lines = simulate("lg-", users=3, days=10, seed=29)
    waits: list[float] = []
    try:
        running.start()
        decisions = KafkaConsumer(
            prefix + DECISIONS.name, bootstrap_servers=bootstrap, auto_offset_reset="earliest"
        )
        with CreditEventProducer(bootstrap, topic_prefix=prefix) as producer:
            for line in lines:
                head = orjson.loads(line)
                producer.send_bytes(head["type"], head["user_id"], line)
                producer.flush()
                if not is_credit_request(head):
                    continue
                sent = time.monotonic()
                answered = False
                while not answered and time.monotonic() - sent < 10:
                    for records in decisions.poll(timeout_ms=20).values():
                        answered |= any(
                            orjson.loads(r.value)["request_event_id"] == head["event_id"] for r in records
                        )
                assert answered, f"no decision for {head['event_id']} within 10 s"
                waits.append(time.monotonic() - sent)
        decisions.close()
    finally:
        running.stop()
    assert len(waits) == sum(is_credit_request(orjson.loads(line)) for line in lines) >= 5
    assert statistics.median(waits) < 0.5, sorted(waits)


def test_the_changelog_topic_is_created_with_the_cleaners_settings(worker: Worker) -> None:
    """Restore reads users, not history: Faust creates the users table's changelog with the
    settings that let Kafka's log cleaner keep about a record a user (streams.worker.app)."""
    changelog = f"{worker.env['CREDITSTREAM_APP_ID']}-users-changelog"
    admin = KafkaAdminClient(bootstrap_servers=worker.bootstrap)
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, changelog, configs=list(CHANGELOG_TOPIC_CONFIGS))]
        )
    finally:
        admin.close()
    found = {name: entry.get("value") for name, entry in described["topic"][changelog].items()}
    assert found == CHANGELOG_TOPIC_CONFIGS
