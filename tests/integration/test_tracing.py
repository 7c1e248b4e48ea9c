"""Trace context across the Kafka hop (issue 13): the producer's traceparent arrives on every output
of the event; with OpenTelemetry configured by its environment variables, the worker records a span
per event in that trace and the outputs carry the span's context."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from schemas.producer import CreditEventProducer
from schemas.topics import OUTPUT_TOPICS
from streams.testing import LocalWorker, read_records, wait_until

pytestmark = pytest.mark.broker
TRACE_ID = uuid.uuid4().hex
PARENT = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT}-01"
NOW = datetime.now(UTC) - timedelta(minutes=5)


def start_worker(bootstrap: str, directory: Path, otel: bool) -> LocalWorker:
    env = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": "credit-test",
    }
    worker = LocalWorker(
        bootstrap, f"tr{uuid.uuid4().hex[:8]}.", directory / "state", directory / "worker.log",
        extra_env=env if otel else {},
    )  # fmt: skip
    return worker.start()


def send_traced(worker: LocalWorker) -> None:
    user = f"tr-{uuid.uuid4().hex[:6]}"
    application = {
        "event_id": f"a-{user}", "type": "application", "user_id": user, "occurred_at": NOW.isoformat(),
        "product": "cash_loan", "amount": "800", "term_months": 6,
    }  # fmt: skip
    with CreditEventProducer(worker.bootstrap, topic_prefix=worker.prefix) as producer:
        producer.send(application, traceparent=TRACEPARENT)
        producer.send_bytes("application", user, b"{not json", traceparent=TRACEPARENT)  # a dead letter


def traced_outputs(worker: LocalWorker) -> dict[str, list[str]]:
    """Output type -> the traceparent headers its records carry."""
    found: dict[str, list[str]] = {}
    for spec in OUTPUT_TOPICS:
        for record in read_records(worker.bootstrap, worker.prefix + spec.name):
            headers = dict(record.headers or [])
            found.setdefault(orjson.loads(record.value)["type"], []).append(
                headers.get("traceparent", b"").decode()
            )
    return found


@pytest.fixture(scope="module")
def plain(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorker]:
    worker = start_worker(bootstrap, tmp_path_factory.mktemp("plain"), otel=False)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def traced(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorker]:
    worker = start_worker(bootstrap, tmp_path_factory.mktemp("otel"), otel=True)
    yield worker
    worker.stop()


EXPECTED = {"decision", "score_changed", "limit_changed", "offer_changed", "dead_letter"}


def test_the_producers_traceparent_arrives_on_every_output(plain: LocalWorker) -> None:
    send_traced(plain)
    wait_until(lambda: set(traced_outputs(plain)) >= EXPECTED, 60, "every kind of output")
    for kind, headers in traced_outputs(plain).items():
        assert headers and all(h == TRACEPARENT for h in headers), (kind, headers)


def test_with_opentelemetry_configured_each_event_is_a_span_in_the_producers_trace(
    traced: LocalWorker,
) -> None:
    send_traced(traced)
    wait_until(lambda: set(traced_outputs(traced)) >= EXPECTED, 60, "every kind of output")
    for kind, headers in traced_outputs(traced).items():
        for header in headers:
            version, trace_id, parent, flags = header.split("-")
            # The same trace, continued from the worker's own span (not the producer's).
            assert (version, trace_id, flags) == ("00", TRACE_ID, "01") and parent != PARENT, (kind, header)
    wait_until(
        lambda: f"0x{TRACE_ID}" in traced.log_path.read_text(errors="replace"), 30, "the span exported"
    )
    log = traced.log_path.read_text(errors="replace")
    assert f'"parent_id": "0x{PARENT}"' in log and "credit.events process" in log
