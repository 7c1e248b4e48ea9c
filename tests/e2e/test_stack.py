"""End-to-end tests against a running stack: a broker and a worker someone else started.

Compose's test profile runs them in a container (`docker compose --profile test up --build
--exit-code-from e2e kafka worker e2e`); `tests/integration/test_e2e_suite.py` runs them against a
local broker and worker. Without CREDITSTREAM_E2E_BOOTSTRAP and CREDITSTREAM_E2E_WORKER_URL they
are skipped.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.decisions import DecisionClient
from schemas.producer import CreditEventProducer

BOOTSTRAP = os.environ.get("CREDITSTREAM_E2E_BOOTSTRAP", "")
WORKER_URL = os.environ.get("CREDITSTREAM_E2E_WORKER_URL", "").rstrip("/")
TOKEN = os.environ.get("CREDITSTREAM_E2E_TOKEN", "")
PREFIX = os.environ.get("CREDITSTREAM_E2E_TOPIC_PREFIX", "")
ENGINE = os.environ.get("CREDITSTREAM_E2E_ENGINE", "")  # the engine the worker must run, when set
pytestmark = pytest.mark.skipif(
    not (BOOTSTRAP and WORKER_URL), reason="needs a running stack: CREDITSTREAM_E2E_BOOTSTRAP and _WORKER_URL"
)
NOW = datetime.now(UTC) - timedelta(minutes=5)


def call(path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if TOKEN:
        headers["Authorization"] = f"Bearer {TOKEN}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(WORKER_URL + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def user() -> Iterator[str]:
    """A user with an account, sent the way an upstream producer sends it."""
    user_id = f"e2e-{uuid.uuid4().hex[:8]}"
    with CreditEventProducer(BOOTSTRAP, topic_prefix=PREFIX) as producer:
        producer.send(
            {
                "event_id": f"open-{user_id}", "type": "account_opened", "user_id": user_id,
                "occurred_at": (NOW - timedelta(days=1)).isoformat(), "segment": "consumer",
                "monthly_income": "15000",
            }
        ).get(timeout=30)  # fmt: skip
    yield user_id


def purchase(user_id: str, amount: str) -> dict[str, Any]:
    return {
        "event_id": f"p-{uuid.uuid4().hex[:12]}", "type": "purchase", "user_id": user_id,
        "occurred_at": NOW.isoformat(), "amount": amount, "merchant_id": "m-1",
        "merchant_category": "groceries", "funding": "credit",
    }  # fmt: skip


def test_the_worker_is_ready() -> None:
    status, body = call("/ready")
    assert status == 200 and body["ready"], body


def test_the_worker_runs_the_engine_it_should() -> None:
    """The image compiles the engine and adopts the build (deploy/Dockerfile): compose's test
    profile expects ``compiled``."""
    request = urllib.request.Request(WORKER_URL + "/metrics")
    with urllib.request.urlopen(request, timeout=30) as response:
        metrics = response.read().decode()
    engines = re.findall(r'^creditstream_build_info\{[^}]*engine="([a-z]+)"', metrics, re.MULTILINE)
    assert engines in (["compiled"], ["python"]), metrics[-2000:]
    if ENGINE:
        assert engines == [ENGINE]


def test_a_checkout_gets_its_decision_in_python(user: str) -> None:
    with DecisionClient(BOOTSTRAP, topic_prefix=PREFIX) as client:
        decision = client.request_decision(purchase(user, "99.00"), timeout=20)
    assert decision.user_id == user and decision.outcome == "approved"


def test_a_checkout_gets_its_decision_over_http_and_the_user_view_shows_it(user: str) -> None:
    request = purchase(user, "50.00")
    status, decision = call("/v1/decisions?timeout=20", request)
    assert status == 200, decision
    assert decision["request_event_id"] == request["event_id"] and decision["outcome"] == "approved"
    status, view = call(f"/users/{user}?lang=en")
    assert status == 200 and view["products"]["bnpl"]["offer"] == "offered"
    assert float(view["products"]["bnpl"]["outstanding"]) >= 50


def test_an_invalid_request_gets_the_reasons() -> None:
    status, body = call("/v1/decisions", {**purchase("e2e-bad", "1"), "amount": "-1"})
    assert status == 400 and "amount" in body["error"]
