"""`creditstream bench decisions`: a checkout's wait, from call to answer, at a steady request rate.

A real worker on the broker; users with accounts; then credit purchases at ``rate`` a second for
``seconds`` seconds, first through the Python call (DecisionClient.request_decision), then through
POST /v1/decisions. Each figure is a latency percentile of one path; both run in the same run, on
the same worker, so they compare. Each path first runs ``WARMUP_SECONDS`` at the same rate, not
counted: a worker's first seconds after start (recovery, first commits, first writes) are slower,
and that warm-up's own p99 is reported beside the measured one.

With ``background_rate`` (``--under-load``), the worker also takes that many other events a
second, simulated users' whole lives sent as `bench worker` sends its steady load, from before the
first warm-up until both paths are measured: a till's wait while the worker is busy with everything
else, which is the wait a checkout sees in production.
"""

from __future__ import annotations

import json
import threading
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
from streams.policy import default_policy
from streams.testing import LocalWorker
from streams.tools.bench.latencies import percentile
from streams.tools.bench.paced import send_paced
from streams.tools.bench.worker import BenchResult, ensure_simulated_log
from streams.tools.produce import Pacer

__all__ = ["bench_decisions"]

USERS = 200
WARMUP_SECONDS = 5.0
CONCURRENCY = 32  # callers in flight at most: a till waits; many tills wait at once
LIVE_REQUESTS = 300  # GET /live.json, after both paths: 15 s at one every 50 ms
LIVE_INTERVAL_SECONDS = 0.05
# The background load is built for this many times the measurement's planned length, and stopped
# when the measurement ends: a slow or saturated machine takes longer than planned, and a load
# sized to the plan had ended before the last figure was taken (background_running false).
BACKGROUND_MARGIN = 3


def bench_decisions(
    bootstrap: str,
    rate: float,
    seconds: float,
    workdir: Path,
    background_rate: float = 0.0,
    live_requests: int = LIVE_REQUESTS,
) -> list[BenchResult]:
    """(Python call, HTTP, GET /live.json) results: the first two at ``rate`` requests a second for
    ``seconds`` seconds each; with ``background_rate``, all while the worker takes that many other
    events a second."""
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
    measured_seconds = 2 * (WARMUP_SECONDS + seconds) + live_requests * LIVE_INTERVAL_SECONDS
    background = _Background(
        bootstrap, prefix, background_rate, BACKGROUND_MARGIN * measured_seconds + 10, workdir
    )
    try:
        background.start()
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
        live = _live_document_latency(f"http://127.0.0.1:{worker.port}/live.json", live_requests)
        results = [python, http, live]
        if background_rate:
            for result in results:
                result.name += "-under-load"
                result.details["background_rate"] = background_rate
                result.details["background_running"] = background.running()
                result.details["background_seconds_planned"] = round(background.seconds, 1)
    finally:
        background.stop()
        worker.stop()
    if background.failure is not None:
        raise RuntimeError(f"the background load failed: {background.failure}")
    return results


def _live_document_latency(url: str, requests: int) -> BenchResult:
    """GET /live.json (the live page's data) ``requests`` times, one every ``LIVE_INTERVAL_SECONDS``
    as a few open pages would, each timed from call to answer."""
    latencies: list[int] = []
    began = time.perf_counter()
    for _ in range(requests):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
        latencies.append(int((time.perf_counter() - started) * 1_000_000))
        time.sleep(max(0.0, LIVE_INTERVAL_SECONDS - (time.perf_counter() - started)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return BenchResult(
        "live-document", requests, elapsed, requests / elapsed,
        {
            "p50_ms": round(percentile(latencies, 0.50) / 1000, 2),
            "p99_ms": round(percentile(latencies, 0.99) / 1000, 2),
            "max_ms": round(max(latencies, default=0) / 1000, 2),
        },
    )  # fmt: skip


class _Background:
    """Other events sent at a steady rate from a thread, while the decisions are measured: at most
    ``seconds`` of them, until ``stop``."""

    def __init__(self, bootstrap: str, prefix: str, rate: float, seconds: float, workdir: Path) -> None:
        self.bootstrap, self.prefix, self.rate, self.seconds = bootstrap, prefix, rate, seconds
        self.lines: list[bytes] = []
        self.stopping = threading.Event()
        if rate > 0:
            log = ensure_simulated_log(workdir / "background.jsonl", int(rate * seconds), default_policy())
            self.lines = log.read_bytes().splitlines()[: int(rate * seconds)]
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    def start(self) -> None:
        if not self.lines:
            return

        def send() -> None:
            try:
                send_paced(
                    self.bootstrap, self.lines, self.rate, topic_prefix=self.prefix, stop=self.stopping
                )
            except BaseException as exc:  # reported by bench_decisions, after the worker stops
                self.failure = exc

        self.thread = threading.Thread(target=send, name="background-load", daemon=True)
        self.thread.start()

    def running(self) -> bool:
        """Still sending: the load covered the whole measurement (else the figure is not under load)."""
        return self.thread is not None and self.thread.is_alive()

    def stop(self) -> None:
        """No more lines; wait for Kafka to acknowledge those sent."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=60)


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
