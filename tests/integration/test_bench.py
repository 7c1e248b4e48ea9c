"""`creditstream bench worker` on the real broker: the figures count only what was measured."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from kafka.admin import KafkaAdminClient

from schemas.topics import EVENTS
from streams.kafka.admin import ensure_topics
from streams.policy import default_policy
from streams.processing import expected_partition
from streams.testing import read_records, wait_until
from streams.tools.bench.decisions import bench_decisions
from streams.tools.bench.paced import send_paced
from streams.tools.bench.worker import bench_worker, summary_document
from streams.tools.simulate import Simulation
from streams.worker.agents import BATCH_MAX

pytestmark = pytest.mark.broker


def test_two_worker_throughput_counts_only_events_applied_after_the_clock_started(
    bootstrap: str, tmp_path: Path
) -> None:
    """The first worker drains part of the backlog while the second starts; that part is not timed."""
    throughput, latency = bench_worker(
        bootstrap, events=1000, rate=50, seconds=2, workdir=tmp_path, workers=2
    )
    details = throughput.details
    assert details["backlog"] == 1000
    before = details["applied_before_the_clock_started"]
    assert 0 <= before <= 1000
    assert throughput.events == 1000 - before
    assert throughput.events_per_second == pytest.approx(throughput.events / throughput.seconds)
    assert 1 <= details["records_per_batch"] <= BATCH_MAX
    assert latency.details["workers"] == 2
    # two seconds of steady load: one window, with how late the load generator ran in it
    [window] = latency.details["windows"]
    assert window["from_s"] == 0 and window["decisions"] > 0 and window["sender_late_ms"] >= 0


def test_the_worker_is_measured_against_a_passthrough_on_the_same_backlog(
    bootstrap: str, tmp_path: Path
) -> None:
    throughput, latency = bench_worker(
        bootstrap, events=1000, rate=None, seconds=2, workdir=tmp_path, passthrough=True
    )
    details = throughput.details
    per_event = details["worker_records_per_event"]
    assert per_event > 0.5  # outputs and the changelog: more than half a record per event
    # The peer sent as many records per event as the worker wrote, over the whole backlog.
    assert abs(details["passthrough_records_sent"] - per_event * 1000) <= 1
    # The report rounds the ratio to 3 decimals: a tolerance relative to a small ratio (0.012 on
    # a 1,000-event backlog) is narrower than that rounding, so the bound is half its last digit.
    assert details["ratio_to_passthrough"] == pytest.approx(
        throughput.events_per_second / details["passthrough_events_per_second"], abs=0.0005 + 1e-6
    )
    # The Faust floor (Faust as the worker runs it, no engine, no table) handled the whole backlog
    # in its own consumer group, sending the same records per event; both ratios are its own.
    assert abs(details["faust_floor_records_sent"] - per_event * 1000) <= 1
    floor = details["faust_floor_events_per_second"]
    assert floor > 0
    assert details["faust_floor_ratio_to_passthrough"] == pytest.approx(
        floor / details["passthrough_events_per_second"], abs=0.0005 + 1e-6
    )
    assert details["ratio_to_faust_floor"] == pytest.approx(
        throughput.events_per_second / floor, abs=0.0005 + 1e-6
    )
    # Without a rate, the steady run is at half the measured throughput.
    assert latency.details["target_rate"] == pytest.approx(max(1.0, throughput.events_per_second / 2))
    document = summary_document(throughput, latency)
    keys = {
        "worker_events_per_second",
        "passthrough_events_per_second",
        "ratio_to_passthrough",
        "faust_floor_events_per_second",
        "ratio_to_faust_floor",
        "steady_rate",
    }
    assert keys | {"p50_ms", "p99_ms", "machine", "versions"} <= set(document)
    assert document["versions"]["aiokafka"] != "not installed"
    # The test broker runs on this machine: its data directory and that directory's filesystem.
    (dirs,) = document["broker_storage"].values()
    assert dirs[0]["log_dir"] and dirs[0]["filesystem"]
    # How busy and stolen the cores were in each phase (this machine has /proc/stat). The backlog
    # phase can be a few milliseconds (the worker drains much of 1,000 events while it starts): too
    # few ticks to share out. The steady phase sends for two seconds, the bench itself busy.
    backlog_cpu, steady_cpu = details["cpu"], latency.details["cpu"]
    assert backlog_cpu is not None or throughput.seconds < 1
    if backlog_cpu is not None:
        assert 0 <= backlog_cpu["busy_pct"] <= 100 and 0 <= backlog_cpu["steal_pct"] < 100
    assert 0 < steady_cpu["busy_pct"] <= 100 and 0 <= steady_cpu["steal_pct"] < 100
    assert document["steady_cpu"] == steady_cpu
    # The worker's own processor time in the steady phase: it applied every steady event, so some
    # time per event, and no more cores than the machine has.
    worker_cpu = latency.details["worker_cpu"]
    assert worker_cpu["seconds"] > 0 and worker_cpu["ms_per_event"] > 0
    assert 0 < worker_cpu["cores"] <= (os.cpu_count() or 1)
    assert document["steady_worker_cpu"] == worker_cpu
    assert document["backlog_worker_cpu"] == details["worker_cpu"]
    assert document["machine"]["processor"]
    # The backlog's batches, phase by phase: every event counted arrived after the stages were read.
    stages = details["stages"]
    assert set(stages) == {"intake", "batch_wait", "process", "acks", "writes"}
    if throughput.events > 0:
        assert stages["process"]["observations"] >= 1 and stages["writes"]["mean_ms"] > 0


def test_a_run_deletes_its_topics_unless_asked_to_keep_them(bootstrap: str, tmp_path: Path) -> None:
    def bench_topics() -> set[str]:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            return {t for t in admin.list_topics() if t.startswith("bench")}
        finally:
            admin.close()

    before = bench_topics()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    bench_worker(bootstrap, events=1000, rate=50, seconds=1, workdir=tmp_path / "a", keep_topics=True)
    kept = bench_topics() - before
    assert any(t.endswith(".credit.events") for t in kept)
    assert any(t.endswith("-worker-users-changelog") for t in kept)
    bench_worker(bootstrap, events=1000, rate=50, seconds=1, workdir=tmp_path / "b")
    wait_until(lambda: bench_topics() == before | kept, 30, "the second run's topics deleted")


def test_the_steady_load_is_sent_at_its_rate_keyed_to_each_users_partition(
    bootstrap: str, unique_prefix: str
) -> None:
    """The bench's load generator (streams.tools.bench.paced): every line reaches its event type's topic,
    on the partition Kafka's default partitioner gives its user (the worker checks that), with a
    trace context, and no faster than the rate."""
    ensure_topics(bootstrap, 4, topics=[replace(EVENTS, name=unique_prefix + EVENTS.name)])
    lines = list(Simulation(10, 30, 5, default_policy(), id_prefix="paced-").lines())[:200]
    assert len(lines) == 200
    sent = send_paced(bootstrap, lines, 400.0, topic_prefix=unique_prefix)
    assert sent.seconds >= 199 / 400 and sent.events == 200
    # half a second of schedule: one window, and on an idle machine its events left on time
    # (a tick and the loop's wake-up late at most, not a catch-up burst)
    assert len(sent.late_ms_by_window) == 1 and 0 <= sent.late_ms_by_window[0] < 500
    records = read_records(bootstrap, unique_prefix + EVENTS.name)
    assert sorted(record.value for record in records) == sorted(lines)
    for record in records:
        user_id = orjson.loads(record.value)["user_id"]
        assert record.key == user_id.encode()
        assert record.partition == expected_partition(record.key, 4)
        assert dict(record.headers)["traceparent"].startswith(b"00-")


def test_a_paced_load_told_to_stop_sends_no_line_after_it(bootstrap: str, unique_prefix: str) -> None:
    """A background load lasts as long as the measurement it runs under, not as long as planned:
    stopped after about a second of a ten-second schedule, it has sent about a second's lines,
    each of them acknowledged."""
    ensure_topics(bootstrap, 4, topics=[replace(EVENTS, name=unique_prefix + EVENTS.name)])
    lines = list(Simulation(20, 30, 5, default_policy(), id_prefix="stop-").lines())[:1000]
    assert len(lines) == 1000
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    sent = send_paced(bootstrap, lines, 100.0, topic_prefix=unique_prefix, stop=stop)

    assert 50 <= sent.events <= 400, sent.events  # 100 a second for about a second, not 1,000
    assert sent.seconds < 5
    records = read_records(bootstrap, unique_prefix + EVENTS.name)
    assert sorted(record.value for record in records) == sorted(lines[: sent.events])


def test_decisions_under_load_keep_the_load_running_through_every_measurement(
    bootstrap: str, tmp_path: Path
) -> None:
    """`bench decisions --under-load`: the checkout's wait, and the live page's data, are measured
    while other events flow; a figure taken after the load stopped would not be under load."""
    results = bench_decisions(bootstrap, 20, 2, tmp_path, background_rate=300, live_requests=20)

    names = [result.name for result in results]
    assert names == ["decisions-python-under-load", "decisions-http-under-load", "live-document-under-load"]
    for result in results:
        assert result.details["background_rate"] == 300
        assert result.details["background_running"] is True, result.name
    for result in results[:2]:
        assert result.details["answered"] == result.events and result.details["failed"] == 0
    assert results[2].events == 20 and results[2].details["p99_ms"] > 0
