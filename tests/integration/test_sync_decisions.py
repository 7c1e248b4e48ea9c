"""A synchronous answer for checkout (issue 13): request_decision in Python and POST /v1/decisions,
on the real broker and a real worker. The request goes through the log, so replay reproduces it."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.codec import encode
from schemas.decisions import DecisionClient, DecisionTimeoutError, NotARequestError
from schemas.events import EVENT_ADAPTER
from schemas.producer import CreditEventProducer, InvalidEventError
from schemas.topics import ALL_TOPICS, EVENTS
from streams.kafka.admin import ensure_topics
from streams.processing import expected_partition
from tests.integration.worker_harness import Worker, caught_up, wait_until

pytestmark = pytest.mark.broker
NOW = datetime.now(UTC) - timedelta(minutes=5)


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    directory = tmp_path_factory.mktemp("sync")
    running = Worker(bootstrap, f"s{uuid.uuid4().hex[:8]}.", directory / "state", directory / "worker.log")
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(worker: Worker) -> Iterator[DecisionClient]:
    with DecisionClient(worker.bootstrap, topic_prefix=worker.prefix) as opened:
        yield opened


def purchase(user: str, amount: str = "120.00", funding: str = "credit") -> dict[str, Any]:
    return {
        "event_id": f"p-{uuid.uuid4().hex[:12]}",
        "type": "purchase",
        "user_id": user,
        "occurred_at": NOW.isoformat(),
        "amount": amount,
        "merchant_id": "m-1",
        "merchant_category": "groceries",
        "funding": funding,
    }


def opened(user: str) -> dict[str, Any]:
    return {
        "event_id": f"o-{user}",
        "type": "account_opened",
        "user_id": user,
        "occurred_at": (NOW - timedelta(days=1)).isoformat(),
        "segment": "consumer",
        "monthly_income": "15000",
    }


def client_bootstrap(client: DecisionClient) -> str:
    return client.bootstrap_servers


def test_request_decision_returns_the_decision_and_a_retry_returns_the_same_one(
    client: DecisionClient,
) -> None:
    user = f"sync-{uuid.uuid4().hex[:6]}"
    with CreditEventProducer(client_bootstrap(client), topic_prefix=client.topic_prefix) as producer:
        producer.send(opened(user)).get(timeout=10)  # the account first, as any producer sends it
    request = purchase(user)
    decision = client.request_decision(request, timeout=10)
    assert (decision.request_event_id, decision.user_id, decision.outcome) == (
        request["event_id"],
        user,
        "approved",
    )
    again = client.request_decision(request, timeout=10)
    assert encode(again) == encode(decision)  # the original decision, byte for byte


def test_request_decision_refuses_what_gets_no_decision_and_says_why(client: DecisionClient) -> None:
    with pytest.raises(NotARequestError, match="only credit purchases and applications"):
        client.request_decision(purchase("u-own", funding="own"), timeout=2)
    with pytest.raises(InvalidEventError, match="amount"):
        client.request_decision({**purchase("u-bad"), "amount": "-5"}, timeout=2)


def test_request_decision_times_out_clearly_when_no_worker_answers(worker: Worker) -> None:
    # Another prefix: its topics exist, and no worker reads them.
    prefix = f"silent{uuid.uuid4().hex[:6]}."
    ensure_topics(
        worker.bootstrap, 4, topics=[dataclasses.replace(s, name=prefix + s.name) for s in ALL_TOPICS]
    )
    with (
        DecisionClient(worker.bootstrap, topic_prefix=prefix) as silent,
        pytest.raises(DecisionTimeoutError, match="retry with the same event_id"),
    ):
        silent.request_decision(purchase("u-silent"), timeout=1.5)


def test_post_decisions_answers_with_the_decision_or_the_reasons(worker: Worker, tmp_path: Path) -> None:
    user = f"http-{uuid.uuid4().hex[:6]}"
    request = purchase(user, amount="80")
    status, decision = worker.post("/v1/decisions", orjson.dumps(request))
    assert status == 200, decision
    assert decision["type"] == "decision" and decision["request_event_id"] == request["event_id"]
    assert worker.post("/v1/decisions", orjson.dumps(request)) == (200, decision)  # a retry: the same

    status, body = worker.post("/v1/decisions", orjson.dumps({**request, "event_id": "x", "amount": "0"}))
    assert status == 400 and "amount" in body["error"]
    status, body = worker.post("/v1/decisions", orjson.dumps(opened(user)))
    assert status == 400 and "only credit purchases and applications" in body["error"]
    status, body = worker.post("/v1/decisions", b"{not json")
    assert status == 400 and "not valid JSON" in body["error"]
    status, body = worker.post("/v1/decisions?timeout=0.001", orjson.dumps(purchase(user)))
    assert status == 504 and "retry with the same event_id" in body["error"]

    # Through the log like any event: replay of credit.events gives the same decision.
    wait_until(lambda: caught_up(worker), 60, "the worker to commit every input record")
    log = tmp_path / "events.jsonl"
    assert worker.run_cli("dump", EVENTS.name, "--records", "--out", str(log)).returncode == 0
    replayed = worker.run_cli("replay", str(log)).stdout.splitlines()
    decisions = [orjson.loads(line) for line in replayed if b'"decision"' in line]
    assert decision in decisions
    assert EVENT_ADAPTER.validate_python(request).event_id in {d["request_event_id"] for d in decisions}


def test_a_posted_request_does_not_wait_out_the_producers_linger(bootstrap: str, tmp_path: Path) -> None:
    """A quiet worker sends nothing else that would carry the request along: with a linger of a
    second, a request that waited for it would be answered after a second at the earliest."""
    lingering = Worker(
        bootstrap,
        f"l{uuid.uuid4().hex[:8]}.",
        tmp_path / "state",
        tmp_path / "worker.log",
        extra_env={"CREDITSTREAM_PRODUCER_LINGER_MS": "1000"},
    )
    lingering.start()
    try:
        user = f"linger-{uuid.uuid4().hex[:6]}"
        status, body = lingering.post("/v1/decisions?timeout=20", orjson.dumps(purchase(user, "5")))
        assert status == 200, body  # the first request also finds the topic's partitions
        answered = []
        for _ in range(3):
            began = time.monotonic()
            status, body = lingering.post("/v1/decisions?timeout=20", orjson.dumps(purchase(user, "5")))
            answered.append(time.monotonic() - began)
            assert status == 200, body
        assert min(answered) < 0.5, answered
    finally:
        lingering.stop()


def test_post_decisions_answers_for_users_on_another_workers_partitions(
    worker: Worker, tmp_path: Path
) -> None:
    """With two workers sharing the partitions, either answers for every user: its own agent for
    the users it owns, the decision client (a read of credit.decisions) for the others."""
    second = Worker(worker.bootstrap, worker.prefix, tmp_path / "state", tmp_path / "worker.log")
    second.start()
    try:
        wait_until(
            lambda: second.get("/ready")[1]["assigned_partitions"] < worker.partitions, 60, "a rebalance"
        )
        wait_until(
            lambda: worker.get("/ready")[0] == 200 and second.get("/ready")[0] == 200, 60, "both ready"
        )
        users = {expected_partition(f"two-{n}".encode(), worker.partitions): f"two-{n}" for n in range(64)}
        assert len(users) == worker.partitions  # a user on every partition
        for user in users.values():
            status, decision = second.post(
                "/v1/decisions?timeout=20", orjson.dumps(purchase(user, amount="5"))
            )
            assert status == 200, decision
            assert decision["user_id"] == user
    finally:
        second.stop()
