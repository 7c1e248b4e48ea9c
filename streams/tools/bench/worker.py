"""Benchmarks (commands that print figures and write JSON, never timed tests).

decode: events per second that one core decodes and validates (bytes -> event).
replay: events per second of `creditstream replay` (decode, engine, encode, write) on a simulated log,
    against its contract floor (decode and encode alone) in the same run.
worker: live workers on a broker: backlog throughput, and event-to-decision latency at a steady rate.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any, Final

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from schemas.codec import DecodeError, decode_event
from schemas.producer import CreditEventProducer
from schemas.topics import ALL_TOPICS, DECISIONS, EVENTS, LEGACY_INPUT_TOPICS, TopicSpec
from streams.engine import ENGINE, UserState
from streams.kafka.admin import broker_log_dirs, delete_topics_starting_with, ensure_topics
from streams.kafka.settings import Settings
from streams.policy import Policy, default_policy
from streams.testing import LocalWorker, read_records, wait_until
from streams.tools.bench.contract_floor import run_contract_floor
from streams.tools.bench.faust_floor import run_faust_floor
from streams.tools.bench.latencies import WINDOW_MS, latency_windows, percentile
from streams.tools.bench.machine import cpu_shares, machine_description, process_cpu_seconds, read_cpu_times
from streams.tools.bench.paced import send_paced
from streams.tools.bench.passthrough import run_passthrough
from streams.tools.bench.stages import stage_figures, stage_histograms
from streams.tools.bench.traffic import steady_lines
from streams.tools.replay import replay_lines
from streams.tools.simulate import Simulation

__all__ = [
    "BenchResult",
    "backlog_measured",
    "bench_decode",
    "bench_replay",
    "bench_worker",
    "ensure_simulated_log",
    "summary_document",
    "wait_for_count",
    "write_results",
    "write_simulation",
]

log = logging.getLogger(__name__)


@dataclass
class BenchResult:
    name: str
    events: int
    seconds: float
    events_per_second: float
    details: dict[str, Any]

    def text(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.details.items())
        rate = f"{self.events_per_second:,.0f} events/s"
        return f"{self.name}: {self.events:,} events in {self.seconds:.2f}s = {rate} ({extra})"


def write_results(path: Path, *results: BenchResult) -> None:
    """The figures as JSON, each with the machine they were measured on."""
    documents = [{**asdict(result), "machine": _machine()} for result in results]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2) + "\n")


def ensure_simulated_log(path: Path, events: int, policy: Policy, seed: int = 1) -> Path:
    """A simulated log of at least ``events`` lines at ``path`` (made once, then reused)."""
    if path.exists() and _count_lines(path) >= events:
        return path
    users = max(100, events // 150)  # about 150 events a user over 100 days
    return write_simulation(path, Simulation(users=users, days=400, seed=seed, policy=policy), events)


def write_simulation(path: Path, simulation: Simulation, limit: int | None = None) -> Path:
    """Write the simulation's lines (the first ``limit`` of them) to ``path``, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        for written, line in enumerate(simulation.lines(), start=1):
            out.write(line + b"\n")
            if limit is not None and written >= limit:
                break
    partial.rename(path)
    return path


def bench_decode(lines: list[bytes], repeat: int = 3) -> BenchResult:
    """Decode every line ``repeat`` times; the best pass counts (least disturbed by the machine)."""
    best = float("inf")
    invalid = 0
    for _ in range(repeat):
        began = time.perf_counter()
        invalid = sum(1 for line in lines if isinstance(decode_event(line), DecodeError))
        best = min(best, time.perf_counter() - began)
    types: dict[str, int] = {}
    for line in lines[:100_000]:
        event = decode_event(line)
        if not isinstance(event, DecodeError):
            types[event.type] = types.get(event.type, 0) + 1
    return BenchResult(
        "decode", len(lines), best, len(lines) / best,
        {"invalid": invalid, "best_of": repeat, "mix_of_first_100k": types},
    )  # fmt: skip


def bench_replay(log: Path, policy: Policy) -> BenchResult:
    """Replay the whole log into memory (writing included), as `creditstream replay` does; and,
    first, the contract floor over the same log (streams.tools.bench.contract_floor): the contracts'
    decode and encode alone, whose ratio to replay is the engine's share."""
    with log.open("rb") as source:
        floor = run_contract_floor(source, _Discard())
    sink = io.BytesIO()
    states: dict[str, UserState] = {}
    began = time.perf_counter()
    with log.open("rb") as source:
        summary = replay_lines(source, sink, policy, states=states)
    seconds = time.perf_counter() - began
    state_bytes = sum(len(state.to_bytes()) for state in states.values())
    return BenchResult(
        "replay", summary.lines, seconds, summary.lines / seconds,
        {
            "users": summary.users,
            "outputs": dict(summary.outputs),
            "output_bytes": sink.tell(),
            "engine": ENGINE,
            "state_bytes_per_user": round(state_bytes / len(states)) if states else 0,
            "contract_floor_events_per_second": round(floor.events_per_second, 1),
            "ratio_to_contract_floor": round(summary.lines / seconds / floor.events_per_second, 3),
        },
    )  # fmt: skip


class _Discard:
    """A sink that keeps nothing (the floor's million records need no memory)."""

    def write(self, data: bytes) -> int:
        return len(data)


def bench_worker(
    bootstrap: str,
    events: int,
    rate: float | None,
    seconds: float,
    workdir: Path,
    workers: int = 1,
    passthrough: bool = False,
    keep_topics: bool = False,
    client_config: Mapping[str, Any] | None = None,
) -> tuple[BenchResult, BenchResult]:
    """Live workers on the broker: (sustained throughput on a backlog, latency at a steady rate).

    ``workers`` processes share one consumer group, as production scales: each owns some partitions.

    Throughput: ``events`` simulated events are produced first, then the workers start; the clock
    runs from every worker ready until their metrics count them all applied, and counts only the
    events applied in that time (a worker that was ready first has already applied some). With
    ``passthrough``, the bare aiokafka loop (streams.tools.bench.passthrough) then runs over the same
    backlog, sending as many records per event as the workers wrote (outputs and changelog,
    counted from the topics' end offsets). Latency: then ``rate`` events a second (half the
    workers' measured throughput when None) for ``seconds`` seconds; each decision's latency is its
    record timestamp minus its request's record timestamp, both stamped by the broker on append:
    from the event in Kafka to its decision in Kafka.

    The run's topics (``bench<milliseconds>.`` and faust's ``bench<milliseconds>-worker-``) are
    deleted at the end unless ``keep_topics``.

    ``client_config``: kafka-python's security settings (Settings.kafka_python_config), for every
    client of the bench and its peers, so that a secured broker (SASL_SSL) is measured as the
    worker meets it; the worker processes read the same KAFKA_* environment.
    """
    prefix = f"bench{time.time_ns() // 1_000_000}."
    security = dict(client_config or {})
    try:
        return _bench_worker(
            bootstrap, prefix, events, rate, seconds, workdir, workers, passthrough, security
        )
    finally:
        if not keep_topics:
            try:
                delete_topics_starting_with(bootstrap, *run_topic_prefixes(prefix), client_config=security)
            except KafkaError as exc:  # say so, without hiding why the run itself failed
                log.warning("could not delete this run's topics (%s*): %s", prefix, exc)


def _bench_worker(
    bootstrap: str,
    prefix: str,
    events: int,
    rate: float | None,
    seconds: float,
    workdir: Path,
    workers: int,
    passthrough: bool,
    security: dict[str, Any],
) -> tuple[BenchResult, BenchResult]:
    policy = default_policy()
    simulated = Simulation(max(20, events // 120), 400, 1, policy, id_prefix="tp-")
    backlog = list(islice(simulated.lines(), events))
    settings = Settings.from_environment(
        {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "CREDITSTREAM_TOPIC_PREFIX": prefix}
    )
    peer_output = replace(DECISIONS, name=prefix + PASSTHROUGH_OUT)  # the peer's scratch output
    ensure_topics(
        bootstrap,
        settings.partitions,
        topics=[_bench_topic(t, prefix) for t in ALL_TOPICS] + [peer_output],
        client_config=security,
    )
    with CreditEventProducer(bootstrap, topic_prefix=prefix, **security) as producer:
        for line in backlog:
            head = orjson.loads(line)
            producer.send_bytes(head["type"], head["user_id"], line)

    running = [
        LocalWorker(
            bootstrap,
            prefix,
            workdir / f"state-{n}",
            workdir / f"worker-{n}.log",
            partitions=settings.partitions,
        )
        for n in range(workers)
    ]
    try:
        for worker in running:
            worker.start()
        wait_until(lambda: all(w.get("/ready")[0] == 200 for w in running), 120, "every worker ready")

        # The first worker may have drained part of the backlog while the others started: count
        # only what is applied after the clock starts.
        def processed() -> int:
            for worker in running:
                worker.check_running()
            return sum(w.records_processed() for w in running)

        backlog_stages_before = stage_histograms(*_metrics_texts(running))  # first: see test_bench
        applied_at_start = min(processed(), len(backlog))
        began, cpu_began, worker_cpu_began = time.perf_counter(), read_cpu_times(), _workers_cpu(running)
        wait_for_count(processed, len(backlog), 1800, "the backlog")
        elapsed, backlog_cpu = time.perf_counter() - began, cpu_shares(cpu_began, read_cpu_times())
        measured = backlog_measured(len(backlog), applied_at_start)
        backlog_worker_cpu = _worker_cpu_figures(worker_cpu_began, _workers_cpu(running), measured, elapsed)
        backlog_stages = stage_figures(backlog_stages_before, stage_histograms(*_metrics_texts(running)))
        state_writes = sum(w.metric_total("creditstream_state_bytes_count") for w in running)
        state_bytes = sum(w.metric_total("creditstream_state_bytes_sum") for w in running)
        batches = sum(w.metric_total("creditstream_batch_records_count") for w in running)
        throughput = BenchResult(
            "worker-throughput", measured, elapsed, measured / elapsed,
            {
                "partitions": settings.partitions,
                "store": "rocksdb",
                "backlog": len(backlog),
                "applied_before_the_clock_started": applied_at_start,
                "note": "events applied from the moment every worker was ready to the last applied",
                # Every state written goes to the table's changelog: its mean size, and its bytes
                # per input event (a user is written once per batch, however many events it had).
                "state_bytes_per_write": round(state_bytes / state_writes) if state_writes else None,
                "changelog_state_bytes_per_event": round(state_bytes / processed()),
                # The whole run's mean, from the first record: small batches cost more per event.
                "records_per_batch": round(processed() / batches, 1) if batches else None,
                "engine": ENGINE,
                "broker_storage": broker_storage(bootstrap, security),
                "security_protocol": security.get("security_protocol", "PLAINTEXT"),
                # All the machine's cores over the backlog (the workers, the broker, this bench):
                # busy, and stolen by the host, which the worker's figures move with (None for a
                # phase too short to count: see machine.MIN_TICKS).
                "cpu": backlog_cpu,
                "worker_cpu": backlog_worker_cpu,
                # A backlog batch's phases (process, acks, writes), as for the steady phase below.
                "stages": backlog_stages,
            },
        )  # fmt: skip
        if passthrough:
            written = _records_written(
                bootstrap, prefix, {prefix + t.name for t in INPUT_AND_LEGACY}, security
            )
            per_event = written / len(backlog)
            peer = run_passthrough(
                bootstrap,
                prefix + EVENTS.name,
                prefix + PASSTHROUGH_OUT,
                len(backlog),
                per_event,
                prefix + "peer",
                security,
            )
            floor_runner = LocalWorker(
                bootstrap,
                prefix,
                workdir / "state-floor",
                workdir / "faust-floor.log",
                partitions=settings.partitions,
                extra_env={"CREDITSTREAM_APP_ID": prefix.strip(".") + "-floor"},
            )
            floor = run_faust_floor(
                floor_runner.env,
                prefix + PASSTHROUGH_OUT,
                len(backlog),
                per_event,
                workdir / "faust-floor.json",
                floor_runner.log_path,
            )
            throughput.details.update(
                {
                    "worker_records_per_event": round(per_event, 3),
                    "passthrough_events_per_second": round(peer.events_per_second, 1),
                    "passthrough_seconds": round(peer.seconds, 3),
                    "passthrough_records_sent": peer.records_sent,
                    "ratio_to_passthrough": round(throughput.events_per_second / peer.events_per_second, 3),
                    # Faust as the worker runs it, with no engine and no table (bench.faust_floor):
                    # the worker against it is the engine's and the table's cost, it against the bare
                    # loop Faust's own.
                    "faust_floor_events_per_second": round(floor.events_per_second, 1),
                    "faust_floor_seconds": round(floor.seconds, 3),
                    "faust_floor_records_sent": floor.records_sent,
                    "faust_floor_ratio_to_passthrough": round(
                        floor.events_per_second / peer.events_per_second, 3
                    ),
                    "ratio_to_faust_floor": round(throughput.events_per_second / floor.events_per_second, 3),
                }
            )

        if rate is None:
            rate = max(1.0, throughput.events_per_second / 2)
        steady = steady_lines(int(rate * seconds), policy)  # what each second holds: bench.traffic
        stages_before = stage_histograms(*_metrics_texts(running))
        # aiokafka from one loop, waking every 5 ms: a quarter of the CPU kafka-python's
        # record-by-record sends took at 1,900 events/s, on the cores the worker runs on.
        cpu_began, worker_cpu_began = read_cpu_times(), _workers_cpu(running)
        sent = send_paced(bootstrap, steady, rate, topic_prefix=prefix, client_config=security)
        send_seconds = sent.seconds
        steady_cpu = cpu_shares(cpu_began, read_cpu_times())
        wait_until(
            lambda: processed() >= len(backlog) + len(steady),
            600,
            "the stream",
        )
        steady_worker_cpu = _worker_cpu_figures(
            worker_cpu_began, _workers_cpu(running), len(steady), send_seconds
        )
        stages = stage_figures(stages_before, stage_histograms(*_metrics_texts(running)))
    finally:
        for worker in running:
            worker.stop()
    sent_and_latency = _decision_latencies(
        bootstrap, prefix, {orjson.loads(x)["event_id"] for x in steady}, security
    )
    latencies = sorted(latency for _, latency in sent_and_latency)
    windows = latency_windows(sent_and_latency)
    late = sent.late_ms_by_window
    for window in windows:  # both count from the first event: its broker stamp, its schedule
        index = window["from_s"] * 1000 // WINDOW_MS
        if index < len(late):  # else nothing was due then: stamped past the schedule's end
            window["sender_late_ms"] = late[index]
    latency = BenchResult(
        "worker-latency", len(steady), send_seconds, len(steady) / send_seconds,
        {
            "workers": workers,
            "target_rate": rate,
            "decisions": len(latencies),
            "p50_ms": percentile(latencies, 0.50),
            "p90_ms": percentile(latencies, 0.90),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": max(latencies, default=0),
            # Where the time went, from the workers' metrics over the steady phase: a record's
            # waits before its batch (intake: Kafka and faust; batch_wait: behind the batch
            # before), then its batch's phases (process, acks, writes).
            "stages": stages,
            # Per 10 s of sending: a tail spread over the run is the worker's cost per record,
            # one in a few windows is a stall to find (streams.tools.bench.latencies).
            "windows": windows,
            "cpu": steady_cpu,  # all the machine's cores while the events were sent
            "worker_cpu": steady_worker_cpu,
        },
    )  # fmt: skip
    return throughput, latency


def _workers_cpu(running: Sequence[LocalWorker]) -> float | None:
    """The processor seconds the worker processes have used so far, together (None where unknown)."""
    seconds = [
        process_cpu_seconds(worker.process.pid) if worker.process is not None else None for worker in running
    ]
    return None if any(s is None for s in seconds) else sum(s for s in seconds if s is not None)


def _worker_cpu_figures(
    before: float | None, after: float | None, events: int, seconds: float
) -> dict[str, float] | None:
    """What a phase cost the workers' processes: milliseconds of processor per event, and the
    cores they kept busy on average (1.0: one core all the time). Far steadier from run to run
    than a p99, so the figure to compare two versions of the worker by."""
    if before is None or after is None or events <= 0 or seconds <= 0:
        return None
    used = after - before
    return {
        "seconds": round(used, 2),
        "ms_per_event": round(1000 * used / events, 4),
        "cores": round(used / seconds, 3),
    }


def wait_for_count(
    count: Callable[[], int],
    target: int,
    timeout: float,
    what: str,
    *,
    finest: float = 0.1,
    coarsest: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait until ``count()`` reaches ``target``: seldom while far from it, every ``finest``
    seconds near it, so that the end is still seen within ``finest``.

    Each count renders every worker's /metrics on the worker's own event loop: asked ten times a
    second through a backlog, that took 3.5% of the worker's main thread (py-spy), a cost the
    throughput figure then carried. Here the wait between asks is half the time left at the rate
    so far, between ``finest`` and ``coarsest``: about one ask a second, then a few near the end."""
    began = clock()
    first = count()
    done = first
    while done < target:
        now = clock()
        if now - began >= timeout:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        rate = (done - first) / (now - began) if done > first and now > began else 0.0
        left = (target - done) / rate if rate > 0 else coarsest
        sleep(min(coarsest, max(finest, left / 2)))
        done = count()


def _metrics_texts(workers: list[LocalWorker]) -> list[str]:
    """Each worker's /metrics text; a worker that does not answer is left out (its stages are
    then missing from the figures, rather than the whole run failing at its end)."""
    bodies = (worker.get("/metrics") for worker in workers)
    return [body for status, body in bodies if status == 200 and isinstance(body, str)]


PASSTHROUGH_OUT: Final = "bench.passthrough-out"
LOG_APPEND_TIME: Final = {"message.timestamp.type": "LogAppendTime"}


def _bench_topic(spec: TopicSpec, prefix: str) -> TopicSpec:
    """The run's copy of a catalogue topic. Decisions are stamped by the broker when appended, as
    the input is: a decision's latency then ends when a reader can see it, however long the
    worker's producer held it (the producer's own stamp is taken when the worker hands it over)."""
    config = {**spec.extra_config, **LOG_APPEND_TIME} if spec.name == DECISIONS.name else spec.extra_config
    return replace(spec, name=prefix + spec.name, extra_config=config)


INPUT_AND_LEGACY: Final = (EVENTS, *LEGACY_INPUT_TOPICS)


def run_topic_prefixes(prefix: str) -> tuple[str, str]:
    """What a run's topic names start with: the catalogue's (``prefix``), and faust's own (its app
    ids are the prefix with "-worker", and "-floor" for the Faust floor: the table's changelog, the
    assignor's topic)."""
    return prefix, prefix.rstrip(".") + "-"


def _records_written(bootstrap: str, prefix: str, inputs: set[str], security: Mapping[str, Any]) -> int:
    """Records in every topic of this run but its inputs: outputs, changelog, markers."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, **security)
    try:
        names = [t for t in consumer.topics() if t.startswith(run_topic_prefixes(prefix)) and t not in inputs]
        names = [t for t in names if not t.endswith(PASSTHROUGH_OUT)]
        partitions = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        ends = consumer.end_offsets(partitions)
        starts = consumer.beginning_offsets(partitions)
        return int(sum(ends[tp] - starts[tp] for tp in partitions))
    finally:
        consumer.close()


def summary_document(throughput: BenchResult, latency: BenchResult) -> dict[str, Any]:
    """The figures a reader compares first, at the top level, then both results in full."""
    details = throughput.details
    return {
        "security_protocol": details.get("security_protocol", "PLAINTEXT"),
        "worker_events_per_second": round(throughput.events_per_second, 1),
        "passthrough_events_per_second": details.get("passthrough_events_per_second"),
        "ratio_to_passthrough": details.get("ratio_to_passthrough"),
        "faust_floor_events_per_second": details.get("faust_floor_events_per_second"),
        "faust_floor_ratio_to_passthrough": details.get("faust_floor_ratio_to_passthrough"),
        "ratio_to_faust_floor": details.get("ratio_to_faust_floor"),
        "worker_records_per_event": details.get("worker_records_per_event"),
        "state_bytes_per_write": details.get("state_bytes_per_write"),
        "changelog_state_bytes_per_event": details.get("changelog_state_bytes_per_event"),
        "steady_rate": latency.details["target_rate"],
        "p50_ms": latency.details["p50_ms"],
        "p99_ms": latency.details["p99_ms"],
        "steady_cpu": latency.details.get("cpu"),  # the cores busy and stolen meanwhile
        # The workers' own processor time per event, per phase: the steadiest cost figure.
        "backlog_worker_cpu": details.get("worker_cpu"),
        "steady_worker_cpu": latency.details.get("worker_cpu"),
        "machine": _machine(),
        # Where the broker keeps its data moves the latency figures (docs/performance.md).
        "broker_storage": details.get("broker_storage"),
        "versions": _versions(),
        "results": [asdict(throughput), asdict(latency)],
    }


def broker_storage(bootstrap: str, security: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Each broker's data directories and, where they are on this machine, their filesystem."""
    try:
        by_broker = broker_log_dirs(bootstrap, security)
    except KafkaError as exc:
        return {"error": f"could not describe the broker's log.dirs: {exc}"}
    return {
        broker: [{"log_dir": d, "filesystem": local_filesystem(d)} for d in dirs]
        for broker, dirs in by_broker.items()
    }


def local_filesystem(path: str, mounts: Path = Path("/proc/mounts")) -> str | None:
    """The type of the filesystem that holds ``path`` on this machine; None when it is not here."""
    real = os.path.realpath(path)
    if not os.path.exists(real) or not mounts.exists():
        return None
    best, kind = "", None
    for line in mounts.read_text().splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")  # /proc/mounts escapes spaces
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def _versions() -> dict[str, str]:
    import importlib.metadata  # noqa: PLC0415 - only when a benchmark writes its figures

    found = {}
    for package in ("creditstream", "faust-streaming", "aiokafka", "kafka-python", "pydantic", "orjson"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def backlog_measured(backlog: int, applied_at_start: int) -> int:
    """The events a throughput figure may count: those applied after the clock started."""
    if not 0 <= applied_at_start <= backlog:
        raise ValueError(f"applied_at_start {applied_at_start} is outside the backlog of {backlog}")
    return backlog - applied_at_start


def _decision_latencies(
    bootstrap: str, prefix: str, request_ids: set[str], security: Mapping[str, Any]
) -> list[tuple[int, int]]:
    """Per decision, its request's record timestamp and the milliseconds from there to the
    decision's record timestamp, in the order the decisions were written."""
    requested: dict[str, int] = {}
    for record in read_records(bootstrap, prefix + EVENTS.name, security):
        event_id = orjson.loads(record.value)["event_id"]
        if event_id in request_ids:
            requested[event_id] = record.timestamp
    latencies = []
    for record in read_records(bootstrap, prefix + DECISIONS.name, security):
        decision = orjson.loads(record.value)
        sent = requested.get(decision["request_event_id"])
        if sent is not None:
            latencies.append((sent, record.timestamp - sent))
    return latencies


def _count_lines(path: Path) -> int:
    with path.open("rb") as source:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: source.read(1 << 20), b""))


def _machine() -> dict[str, Any]:
    return machine_description()
