"""`creditstream bench decisions`: a checkout's wait, from call to answer, at a steady request rate.

A real worker on the broker; users with accounts; then credit purchases at ``rate`` a second for
``seconds`` seconds, first through the Python call (DecisionClient.request_decision), then through
POST /v1/decisions. Each figure is a latency percentile of one path; both run in the same run, on
the same worker, so they compare. Each path first runs ``WARMUP_SECONDS`` at the same rate, not
counted: a worker's first seconds after start (recovery, first commits, first writes) are slower,
and that warm-up's own p99 is reported beside the measured one.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas.decisions import DecisionClient
from schemas.producer import CreditEventProducer
from schemas.topics import ALL_TOPICS
from streams.kafka.admin import ensure_topics
from streams.kafka.settings import Settings
from streams.testing import LocalWorker
from streams.tools.bench.latencies import percentile
from streams.tools.bench.worker import BenchResult
from streams.tools.produce import Pacer

__all__ = ["bench_decisions"]

USERS = 200
WARMUP_SECONDS = 5.0
CONCURRENCY = 32  # callers in flight at most: a till waits; many tills wait at once


def bench_decisions(bootstrap: str, rate: float, seconds: float, workdir: Path) -> list[BenchResult]:
    """(Python call, HTTP) results at ``rate`` requests a second for ``seconds`` seconds each."""
    prefix = f"benchdec{int(time.time())}."
    settings = Settings.from_environment(
        {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "CREDITSTREAM_TOPIC_PREFIX": prefix}
    )
    ensure_topics(
        bootstrap, settings.partitions, topics=[replace(t, name=prefix + t.name) for t in ALL_TOPICS]
    )
    now = datetime.now(UTC) - timedelta(minutes=1)
    users = [f"till-{n:04d}" for n in range(USERS)]
    with CreditEventProducer(bootstrap, topic_prefix=prefix) as producer:
        for user in users:
            producer.send(
                {
                    "event_id": f"open-{user}", "type": "account_opened", "user_id": user,
                    "occurred_at": (now - timedelta(days=400)).isoformat(), "segment": "consumer",
                    "monthly_income": "30000",
                }
            )  # fmt: skip
    worker = LocalWorker(
        bootstrap, prefix, workdir / "state", workdir / "worker.log", partitions=settings.partitions
    )
    worker.start()
    try:
        with DecisionClient(bootstrap, topic_prefix=prefix) as client:
            client.request_decision(_purchase(users[0], now), timeout=30)  # warm: connections, partitions

            def by_python(event: dict[str, Any]) -> None:
                client.request_decision(event, timeout=5)

            python = _measured("decisions-python", by_python, users, now, rate, seconds)

        url = f"http://127.0.0.1:{worker.port}/v1/decisions"

        def by_http(event: dict[str, Any]) -> None:
            request = urllib.request.Request(
                url, data=json.dumps(event).encode(), headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")

        by_http(_purchase(users[1], now))  # warm: the worker's own client
        http = _measured("decisions-http", by_http, users, now, rate, seconds)
    finally:
        worker.stop()
    return [python, http]


def _measured(
    name: str,
    call: Callable[[dict[str, Any]], None],
    users: list[str],
    now: datetime,
    rate: float,
    seconds: float,
) -> BenchResult:
    warmup = _steady(f"{name}-warmup", call, users, now, rate, WARMUP_SECONDS)
    result = _steady(name, call, users, now, rate, seconds)
    result.details["warmup_seconds"] = WARMUP_SECONDS
    result.details["warmup_p99_ms"] = warmup.details["p99_ms"]
    return result


def _purchase(user: str, now: datetime) -> dict[str, Any]:
    return {
        "event_id": f"p-{uuid.uuid4().hex[:16]}", "type": "purchase", "user_id": user,
        "occurred_at": now.isoformat(), "amount": "1.00", "merchant_id": "till",
        "merchant_category": "groceries", "funding": "credit",
    }  # fmt: skip


def _steady(
    name: str,
    call: Callable[[dict[str, Any]], None],
    users: list[str],
    now: datetime,
    rate: float,
    seconds: float,
) -> BenchResult:
    """Issue requests at ``rate`` a second, each timed from call to answer."""
    latencies: list[int] = []  # microseconds
    failures: list[str] = []

    def timed(event: dict[str, Any]) -> None:
        began = time.perf_counter()
        try:
            call(event)
        except (OSError, TimeoutError, RuntimeError, urllib.error.URLError) as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            return
        latencies.append(int((time.perf_counter() - began) * 1_000_000))

    count = int(rate * seconds)
    pacer = Pacer(rate)
    pending: list[Future[None]] = []
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        for number in range(count):
            pacer.wait()
            pending.append(pool.submit(timed, _purchase(users[number % len(users)], now)))
        for future in pending:
            future.result()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return BenchResult(
        name, count, elapsed, count / elapsed,
        {
            "target_rate": rate,
            "answered": len(latencies),
            "failed": len(failures),
            "first_failure": failures[0] if failures else None,
            "p50_ms": round(percentile(latencies, 0.50) / 1000, 2),
            "p90_ms": round(percentile(latencies, 0.90) / 1000, 2),
            "p99_ms": round(percentile(latencies, 0.99) / 1000, 2),
            "max_ms": round(max(latencies, default=0) / 1000, 2),
        },
    )  # fmt: skip
