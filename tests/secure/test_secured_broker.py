"""creditstream on a broker secured as a lender's is (issue 32): SASL_SSL with SCRAM-SHA-512, no
access without an ACL, each role with only the ACLs `creditstream acls` derives from the catalogue.

Every client path here runs with a role's credentials from files (KAFKA_SASL_PASSWORD_FILE): topic
and ACL set-up as admin, the worker (RocksDB table, changelog, standby replicas, gap reader),
`produce`, `dump --records`, the producer helper, DecisionClient.request_decision and
POST /v1/decisions. Refusals are one line and an exit, and no secret appears in any output.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from schemas.decisions import DecisionClient
from schemas.producer import CreditEventProducer, ProducerError
from schemas.topics import DECISIONS, EVENTS
from streams.policy import default_policy
from streams.testing import LocalWorker, free_port, wait_until
from streams.tools.dump import dump_topic
from streams.tools.replay import replay_lines
from streams.tools.simulate import Simulation
from tests.faults.invariant import OUTPUT_TOPICS, _by_user_and_type, _first_occurrences
from tests.secure.conftest import SecureBroker

pytestmark = pytest.mark.broker
TOKEN = "secured-broker-test-token-0123456789"


def _acls(secure: SecureBroker, prefix: str, *extra: str) -> None:
    applied = secure.cli(
        "admin", "acls", "--apply", "--create-topics", *extra,
        CREDITSTREAM_TOPIC_PREFIX=prefix, CREDITSTREAM_APP_ID=prefix.strip(".") + "-worker",
        CREDITSTREAM_PARTITIONS="4",  # as LocalWorker runs
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def _event(user: str, event_id: str, **fields: object) -> dict[str, object]:
    return {"event_id": event_id, "user_id": user, "occurred_at": "2026-03-01T10:00:00+08:00", **fields}


def test_each_role_does_what_it_may_and_is_refused_what_it_may_not(secure: SecureBroker, prefix: str) -> None:
    _acls(secure, prefix)
    events, decisions = prefix + EVENTS.name, prefix + DECISIONS.name
    # producer: writes credit.events through the helper (idempotent, acks=all) ...
    with CreditEventProducer(
        secure.bootstrap, topic_prefix=prefix, **secure.kafka_config("producer")
    ) as producer:
        producer.send_and_wait(_event("u-roles", "r-1", type="sale", amount="10"))
    # ... and may neither write credit.decisions nor read anything.
    raw = KafkaProducer(
        bootstrap_servers=secure.bootstrap, max_block_ms=5000, **secure.kafka_config("producer")
    )
    try:
        with pytest.raises(KafkaError) as refused:
            raw.send(decisions, key=b"u-roles", value=b"{}").get(timeout=10)
        assert "TopicAuthorizationFailed" in type(refused.value).__name__
    finally:
        raw.close()
    assert _read_refused(secure, "producer", events)
    # auditor: reads credit.events (dump --records) and may not write it.
    dumped = secure.cli("auditor", "dump", "credit.events", "--records", CREDITSTREAM_TOPIC_PREFIX=prefix)
    assert dumped.returncode == 0 and dumped.stdout.count("\n") == 1, dumped.stderr
    with (
        pytest.raises(ProducerError) as refused_write,
        CreditEventProducer(secure.bootstrap, topic_prefix=prefix, **secure.kafka_config("auditor")) as p,
    ):
        p.send_and_wait(_event("u-roles", "r-2", type="sale", amount="10"), timeout=10)
    assert f"may not write {events}" in str(refused_write.value)
    # decisions (the decision client): reads credit.decisions, and may not read credit.events.
    assert not _read_refused(secure, "decisions", decisions)
    assert _read_refused(secure, "decisions", events)


def _read_refused(secure: SecureBroker, role: str, topic: str) -> bool:
    consumer = KafkaConsumer(
        bootstrap_servers=secure.bootstrap, enable_auto_commit=False, **secure.kafka_config(role)
    )
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        try:
            consumer.poll(timeout_ms=3000)
            consumer.position(partition)
        except KafkaError as exc:
            return "TopicAuthorizationFailed" in type(exc).__name__
        return False
    finally:
        consumer.close()


def test_refusals_are_one_line_and_an_exit(secure: SecureBroker, prefix: str, tmp_path: Path) -> None:
    _acls(secure, prefix, "--role", "auditor")
    dump = ("dump", "credit.events")
    no_credentials = secure.cli("auditor", *dump, KAFKA_SASL_USERNAME="", CREDITSTREAM_TOPIC_PREFIX=prefix)
    assert no_credentials.returncode == 2
    assert "KAFKA_SASL_USERNAME is required when KAFKA_SECURITY_PROTOCOL=SASL_SSL" in _one_line(
        no_credentials.stderr
    )

    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    began = time.monotonic()
    bad_password = secure.cli(
        "auditor", *dump, KAFKA_SASL_PASSWORD_FILE=str(wrong), CREDITSTREAM_TOPIC_PREFIX=prefix
    )
    assert time.monotonic() - began < 10  # said at once, not after kafka-python's 30 s of retries
    assert bad_password.returncode != 0
    assert "SASL authentication as 'auditor' failed" in _one_line(bad_password.stderr)

    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes())
    began = time.monotonic()
    bad_ca = secure.cli("auditor", *dump, KAFKA_SSL_CAFILE=str(other_ca), CREDITSTREAM_TOPIC_PREFIX=prefix)
    assert time.monotonic() - began < 10
    assert bad_ca.returncode != 0
    assert "TLS certificate not signed by the CA in KAFKA_SSL_CAFILE" in _one_line(bad_ca.stderr)

    # A worker without its ACLs (only the auditor's were made here) exits at start and never goes ready.
    worker = secure.cli(
        "worker", "worker",
        CREDITSTREAM_TOPIC_PREFIX=prefix, CREDITSTREAM_APP_ID=prefix.strip(".") + "-worker",
        CREDITSTREAM_STATE_DIR=str(tmp_path / "state"), CREDITSTREAM_WEB_PORT=str(free_port()),
    )  # fmt: skip
    assert worker.returncode == 2
    line = _one_line(worker.stderr)
    assert "the worker may not" in line and "(TopicAuthorizationFailed)" in line, line


def test_live_equals_replay_and_a_killed_worker_loses_nothing_over_sasl_ssl(
    secure: SecureBroker, prefix: str, tmp_path: Path
) -> None:
    """Two workers in one group, each keeping a standby of the other's table partitions (read
    from the changelog over SASL_SSL); one is SIGKILLed mid-stream, the other takes over its
    partitions, then the killed one restarts and the stream goes on."""
    _acls(secure, prefix)
    lines = list(Simulation(30, 90, 21, default_policy(), id_prefix="sec-").lines())
    first, second = lines[: len(lines) // 2], lines[len(lines) // 2 :]
    token = _write(tmp_path / "token", TOKEN)
    killed, survivor = (
        LocalWorker(
            secure.bootstrap,
            prefix,
            tmp_path / f"state-{name}",
            tmp_path / f"worker-{name}.log",
            extra_env={
                **secure.env("worker"),
                "CREDITSTREAM_API_TOKEN_FILE": token,
                "CREDITSTREAM_STANDBY_REPLICAS": "1",
            },
        )
        for name in ("a", "b")
    )
    worker = survivor
    killed.start()
    survivor.start()
    try:
        _produce(secure, prefix, first, tmp_path / "first.jsonl")
        wait_until(lambda: _decisions(secure, prefix) > 20, 120, "decisions over SASL_SSL")
        killed.kill()  # SIGKILL: no commit, no flush
        wait_until(lambda: _owns_every_partition(survivor), 90, "the survivor taking every partition")
        killed.start()
        _produce(secure, prefix, second, tmp_path / "second.jsonl")
        requests = sum(1 for line in lines if b'"application"' in line or b'"credit"' in line)
        wait_until(lambda: _decisions(secure, prefix, distinct=True) >= requests, 180, "every decision")

        # The decision client (its own role) and POST /v1/decisions (behind the token).
        purchase = _event(
            "sec-u-sync", "sync-1", type="purchase", amount="20", merchant_id="m", merchant_category="c",
            funding="credit",
        )  # fmt: skip
        with DecisionClient(
            secure.bootstrap, topic_prefix=prefix, **secure.kafka_config("decisions")
        ) as client:
            decided = client.request_decision(purchase, timeout=30)
        assert decided.request_event_id == "sync-1"
        body = orjson.dumps({**purchase, "event_id": "sync-2"})
        assert worker.post("/v1/decisions", body)[0] == 401
        status, answer = worker.post("/v1/decisions", body, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and answer["request_event_id"] == "sync-2", answer

        # Live equals replay of the dumped log, per user and output type, in order; nothing lost.
        log = secure.cli("auditor", "dump", "credit.events", "--records", CREDITSTREAM_TOPIC_PREFIX=prefix)
        assert log.returncode == 0, log.stderr
        out = io.BytesIO()
        replay_lines(iter(log.stdout.encode().splitlines()), out, default_policy())
        replayed = _by_user_and_type(out.getvalue().splitlines())
        live = _by_user_and_type(_live_outputs(secure, prefix))
        assert set(live) == set(replayed)
        for group, expected in replayed.items():
            got = live[group]
            assert set(got) == set(expected), group
            if group[1] != "dead_letter":
                assert _first_occurrences(got) == _first_occurrences(expected), group

        # No secret in the logs, /health, /metrics, the dead letters or any command's output.
        outputs = [w.log_path.read_text(errors="replace") for w in (killed, survivor)]
        outputs += [str(w.get(path)) for w in (killed, survivor) for path in ("/health", "/metrics")]
        outputs += [log.stdout, log.stderr]
        outputs += [
            secure.cli("auditor", "dump", "credit.dead-letter", CREDITSTREAM_TOPIC_PREFIX=prefix).stdout
        ]
        secrets = [secure.password(role) for role in ("admin", "producer", "worker", "decisions", "auditor")]
        for text in outputs:
            for secret in [*secrets, TOKEN]:
                assert secret not in text
    finally:
        killed.stop()
        survivor.stop()


def _owns_every_partition(worker: LocalWorker) -> bool:
    status, ready = worker.get("/ready")
    return status == 200 and ready["assigned_partitions"] == worker.partitions


def _write(path: Path, text: str) -> str:
    path.write_text(text + "\n")
    return str(path)


def _produce(secure: SecureBroker, prefix: str, lines: list[bytes], path: Path) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")
    sent = secure.cli(
        "producer", "produce", str(path), CREDITSTREAM_TOPIC_PREFIX=prefix, CREDITSTREAM_PARTITIONS="4"
    )
    assert sent.returncode == 0, sent.stderr


def _live_outputs(secure: SecureBroker, prefix: str) -> list[bytes]:
    config = secure.kafka_config("auditor")
    return [v for topic in OUTPUT_TOPICS for v in dump_topic(secure.bootstrap, prefix + topic, config)]


def _decisions(secure: SecureBroker, prefix: str, distinct: bool = False) -> int:
    values = list(dump_topic(secure.bootstrap, prefix + DECISIONS.name, secure.kafka_config("auditor")))
    return len({orjson.loads(v)["request_event_id"] for v in values}) if distinct else len(values)
