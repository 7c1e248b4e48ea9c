"""The creditstream command line: worker, replay, explain, simulate, produce, backtest, dump, bench,
schemas.

Each command is a thin shell over a module that does the work; errors in input or configuration
print one clear line and exit 2.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO, NoReturn

import typer

from streams.kafka.settings import Settings
from streams.policy import Policy, PolicyError, load_policy

__all__ = ["app", "main"]

app = typer.Typer(
    name="creditstream",
    help="A real-time credit engine on Kafka and Faust.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schemas_app = typer.Typer(help="Event contracts: export the JSON Schema files.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
bench_app = typer.Typer(help="Benchmarks: print figures and write JSON.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
BENCH_DIR = Path(".cache") / "bench"

PolicyOption = Annotated[
    Path | None, typer.Option("--policy", help="Policy TOML file (default: the packaged default policy).")
]


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"creditstream: {message}", err=True)
    raise typer.Exit(code)


def broker_or_exit() -> Settings:
    """The settings (KAFKA_BOOTSTRAP_SERVERS and its security), once a broker there accepts them;
    else exit 1 with one line saying why."""
    from streams.kafka.permissions import KafkaAccessError, admin_client
    from streams.kafka.settings import Settings, SettingsError

    try:
        settings = Settings.from_environment()
        admin_client(settings).close()
    except SettingsError as exc:
        fail(str(exc))
    except KafkaAccessError as exc:
        fail(f"{exc}; a local broker: deploy/kafka/start", code=1)
    return settings


DEFAULT_SPLIT_PARTITIONS = 8
SMALL_LOG_BYTES = 64 * 1024 * 1024  # a local file below this runs in-process unless --jobs says otherwise
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        min=1,
        max=256,
        help="Worker processes of the local Dask cluster (default: the cores; same output). "
        "1: in this process.",
    ),
]
ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster", metavar="ADDRESS", help="Run on this Dask scheduler, e.g. tcp://10.0.0.5:8786."
    ),
]
ScratchOption = Annotated[
    str | None,
    typer.Option(
        "--scratch",
        metavar="URL",
        help="Where tasks write their outputs before the merge (default: a local temporary directory; "
        "give a shared fsspec URL when workers run on other machines).",
    ),
]
PartitionsOption = Annotated[
    int,
    typer.Option(
        "--partitions", min=1, max=4096, help="Partitions a flat log is split into, by user (murmur2)."
    ),
]


def _input_or_exit(source: str) -> str:
    """The input as a URL or local path; exit 2 when a local one is missing."""
    if "://" in source:
        return source
    path = Path(source)
    if not path.exists():
        fail(f"cannot read input file {source}: no such file or directory")
    return str(path)


def _runs_in_process(source: str, jobs: int | None, cluster: str | None) -> bool:
    """One process for a small local file (no cluster start cost), or when asked (--jobs 1)."""
    if cluster is not None or "://" in source or Path(source).is_dir():
        return False
    return jobs == 1 or (jobs is None and Path(source).stat().st_size < SMALL_LOG_BYTES)


@contextlib.contextmanager
def _engine_or_exit(
    cluster: str | None, jobs: int | None, scratch: str | None, partitions: int
) -> Iterator[Any]:
    """The Dask engine: a scheduler's, or a local cluster of ``jobs`` (default: the cores)."""
    from streams.tools.cluster import open_engine

    try:
        with open_engine(cluster, jobs or os.cpu_count() or 1, scratch, partitions) as engine:
            yield engine
    except OSError as exc:
        if cluster is not None and "Timed out" in str(exc):
            fail(f"no Dask scheduler answered at {cluster}: {exc}", code=1)
        raise


def policy_or_exit(path: Path | None) -> Policy:
    try:
        return load_policy(path)
    except PolicyError as exc:
        fail(str(exc))


@app.command()
def worker() -> None:
    """Run the live worker (configured by environment variables: see README, Configuration)."""
    from kafka.errors import KafkaError

    from streams.kafka.admin import CoPartitioningError, MissingTopicsError, TopicSetupTimeoutError
    from streams.kafka.permissions import KafkaAccessError, PermissionRefusedError, explain_kafka_failure
    from streams.kafka.settings import Settings, SettingsError
    from streams.worker.run import run_worker

    try:
        settings = Settings.from_environment()
        run_worker(settings)
    except (SettingsError, PolicyError, CoPartitioningError, MissingTopicsError) as exc:
        fail(str(exc))
    except PermissionRefusedError as exc:
        fail(str(exc))
    except KafkaAccessError as exc:  # no broker, TLS or SASL: said in one line by its cause
        fail(str(exc), code=1)
    except TopicSetupTimeoutError as exc:
        fail(f"Kafka at {settings.bootstrap_servers}: {exc}", code=1)
    except KafkaError as exc:
        fail(explain_kafka_failure(settings, exc), code=1)


@app.command()
def replay(
    input_file: Annotated[
        str,
        typer.Argument(
            metavar="INPUT", help="Input events (JSONL file, partitioned directory, or fsspec URL of either)."
        ),
    ],
    policy: PolicyOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write outputs here (default: standard output).")
    ] = None,
    jobs: JobsOption = None,
    cluster: ClusterOption = None,
    scratch: ScratchOption = None,
    partitions: PartitionsOption = DEFAULT_SPLIT_PARTITIONS,
) -> None:
    """Replay a log of input events through the engine and write every output event as JSONL.

    INPUT is a file, a directory of partition-NNNN.jsonl files (`dump --records --partitioned`), or
    an fsspec URL of either. A small local file runs in this process; anything else runs on Dask,
    one task per partition (a flat log is split by user first): the same bytes either way."""
    from streams.tools.progress import progress_bar
    from streams.tools.replay import replay_lines

    loaded = policy_or_exit(policy)
    source_url = _input_or_exit(input_file)
    try:
        sink: BinaryIO = out.open("wb") if out is not None else sys.stdout.buffer
    except OSError as exc:
        fail(f"cannot write output file {out}: {exc.strerror or exc}")
    if _runs_in_process(source_url, jobs, cluster):
        with (
            Path(source_url).open("rb") as source,
            progress_bar(f"replay {input_file}", Path(source_url).stat().st_size) as advance,
        ):

            def show_progress(line_number: int) -> None:
                if line_number % 20_000 == 0:
                    advance(source.tell())

            summary = replay_lines(source, sink, loaded, on_line=show_progress)
    else:
        from streams.tools.cluster import replay_distributed

        with _engine_or_exit(cluster, jobs, scratch, partitions) as engine:
            summary = replay_distributed(engine, source_url, sink, loaded)
    sink.flush()
    if out is not None:
        sink.close()
    typer.echo(summary.text(), err=True)


@app.command()
def explain(
    input_file: Annotated[
        Path, typer.Argument(metavar="EVENTS.jsonl", help="Input events, one JSON object a line.")
    ],
    user: Annotated[str, typer.Option("--user", help="The user_id to explain.")],
    lang: Annotated[str, typer.Option("--lang", help="Language of the texts: zh or en.")] = "en",
    policy_path: PolicyOption = None,
) -> None:
    """Print one user's timeline: each event and what it changed (decisions, scores, limits,
    offers), with the texts of the reason codes."""
    from streams.explain.texts import LANGUAGES
    from streams.explain.timeline import explain_user, render

    if lang not in LANGUAGES:
        fail(f"--lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    policy = policy_or_exit(policy_path)
    try:
        source = input_file.open("rb")
    except OSError as exc:
        fail(f"cannot read {input_file}: {exc.strerror or exc}")
    shown = 0
    with source:
        for text in render(explain_user(source, user, policy, lang)):
            typer.echo(text)
            shown += 1
    if not shown:
        fail(f"no events of user {user!r} in {input_file}", code=1)


@schemas_app.command("export")
def schemas_export(
    check: Annotated[
        bool, typer.Option("--check", help="Only check; exit 1 when the files are stale.")
    ] = False,
) -> None:
    """Regenerate schemas/json from the models (or check that it is current)."""
    from schemas.export import SCHEMA_DIR, check_schema_files, write_schema_files

    if check:
        drifted = check_schema_files()
        if drifted:
            fail(f"stale schema files: {', '.join(drifted)}; run `creditstream schemas export`", code=1)
        typer.echo(f"{SCHEMA_DIR}: up to date", err=True)
        return
    for path in write_schema_files():
        typer.echo(str(path))


@app.command()
def simulate(
    users: Annotated[int, typer.Option(min=1, help="How many users.")] = 1000,
    days: Annotated[int, typer.Option(min=1, help="How many days of event time.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same events.")] = 1,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write JSONL here (default: standard output).")
    ] = None,
    kafka: Annotated[bool, typer.Option("--kafka", help="Send to Kafka (KAFKA_BOOTSTRAP_SERVERS).")] = False,
    rate: Annotated[
        float | None, typer.Option(min=0.1, help="Events per second (default: as fast as possible).")
    ] = None,
    activity: Annotated[
        float, typer.Option(min=0.01, max=10, help="Scale everyday purchases and sales (1 = realistic).")
    ] = 1.0,
    policy: PolicyOption = None,
) -> None:
    """Generate a synthetic population's events over event time (deterministic for a seed)."""
    from streams.tools.produce import emit_lines
    from streams.tools.simulate import Simulation

    if kafka and out is not None:
        fail("--out and --kafka exclude each other: choose where the events go")
    simulation = Simulation(
        users=users, days=days, seed=seed, policy=policy_or_exit(policy), activity=activity
    )
    sent = emit_lines(simulation.lines(), out=out, kafka=kafka, rate=rate, label="simulate", total=None)
    by_type = ", ".join(f"{n} {t}" for t, n in sorted(simulation.counts.items()))
    personas = ", ".join(f"{n} {p}" for p, n in sorted(simulation.personas.items()))
    typer.echo(f"simulate: {sent} events ({by_type}); users by persona: {personas}", err=True)


@app.command()
def produce(
    input_file: Annotated[Path, typer.Argument(metavar="FILE.jsonl", help="Events, one JSON object a line.")],
    rate: Annotated[
        float | None, typer.Option(min=0.1, help="Events per second (default: as fast as possible).")
    ] = None,
    send_invalid: Annotated[
        bool, typer.Option("--send-invalid", help="Also send lines that fail validation (dead-letter tests).")
    ] = False,
) -> None:
    """Send a JSONL file of events to their topics (KAFKA_BOOTSTRAP_SERVERS) with the producer helper."""
    from kafka.errors import KafkaError

    from schemas.producer import ProducerError
    from streams.kafka.admin import CoPartitioningError
    from streams.kafka.permissions import KafkaAccessError
    from streams.kafka.settings import SettingsError
    from streams.tools.produce import connect_producer, produce_file

    if not input_file.is_file():
        fail(f"cannot read input file {input_file}: no such file")
    try:
        with connect_producer() as producer:
            summary = produce_file(input_file, producer, rate=rate, send_invalid=send_invalid)
    except (SettingsError, CoPartitioningError) as exc:
        fail(str(exc))
    except KafkaAccessError as exc:
        fail(str(exc), code=1)
    except (ProducerError, KafkaError) as exc:
        fail(f"Kafka: {exc}", code=1)
    typer.echo(summary.text(), err=True)


@app.command()
def backtest(
    events_file: Annotated[
        str,
        typer.Argument(
            metavar="EVENTS",
            help="Input events (JSONL file, partitioned directory, or fsspec URL of either).",
        ),
    ],
    champion: Annotated[Path, typer.Option("--champion", help="The current policy (TOML).")],
    challenger: Annotated[Path, typer.Option("--challenger", help="The candidate policy (TOML).")],
    report: Annotated[
        Path, typer.Option("--report", help="Directory for report.html and summary.json.")
    ] = Path("backtest-report"),
    jobs: JobsOption = None,
    cluster: ClusterOption = None,
    scratch: ScratchOption = None,
    partitions: PartitionsOption = DEFAULT_SPLIT_PARTITIONS,
    outcome_window_days: Annotated[
        int,
        typer.Option(
            "--outcome-window-days",
            min=1,
            max=3650,
            help="Performance window of the score metrics: bad = 30+ days past due within this many days.",
        ),
    ] = 180,
) -> None:
    """Run two policies over the same log; report approval and bad rates, the score's AUC, KS, Gini,
    PSI and bad rate by band per model, and every differing decision. EVENTS is a file, a
    partitioned directory or an fsspec URL, as for replay."""
    from streams.tools.backtest import run_backtest, write_report
    from streams.tools.progress import progress_bar

    champion_policy, challenger_policy = policy_or_exit(champion), policy_or_exit(challenger)
    source_url = _input_or_exit(events_file)

    def lines() -> BinaryIO:
        return Path(source_url).open("rb")

    report.mkdir(parents=True, exist_ok=True)
    with (report / "differences.jsonl").open("wb") as differences:
        if _runs_in_process(source_url, jobs, cluster):
            with progress_bar("backtest", None) as advance:
                result = run_backtest(
                    lines,
                    champion_policy,
                    challenger_policy,
                    differences,
                    on_line=lambda n: None if n % 20_000 else advance(n),
                    window_days=outcome_window_days,
                )
        else:
            from streams.tools.cluster import backtest_distributed

            with _engine_or_exit(cluster, jobs, scratch, partitions) as engine:
                result = backtest_distributed(
                    engine, source_url, champion_policy, challenger_policy, differences,
                    window_days=outcome_window_days,
                )  # fmt: skip
    html_path, summary_path = write_report(result, report)
    for name, run in (("champion", result.champion), ("challenger", result.challenger)):
        figures = run.overall.summary()
        typer.echo(
            f"{name} {run.policy.version}: {figures['decisions']} decisions, "
            f"approval rate {figures['approval_rate']}, approved {figures['approved_amount']} yuan, "
            f"bad rate {figures['bad_rate']}"
        )
    typer.echo(f"{result.differences} decisions differ; report: {html_path}, summary: {summary_path}")


@app.command()
def dump(
    topic: Annotated[str, typer.Argument(help="Topic name as in the catalogue, e.g. credit.events.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write JSONL here (default: standard output).")
    ] = None,
    records: Annotated[
        bool,
        typer.Option(
            "--records",
            help="Whole records (partition, offset, timestamp, key): the input for a faithful replay.",
        ),
    ] = False,
    partitioned: Annotated[
        Path | None,
        typer.Option(
            "--partitioned",
            metavar="DIR",
            help="With --records: one file per partition in DIR (partition-NNNN.jsonl), the unit of a "
            "distributed replay or backtest.",
        ),
    ] = None,
) -> None:
    """Write a topic's messages as JSONL, partition by partition (KAFKA_BOOTSTRAP_SERVERS)."""
    from kafka.errors import KafkaError

    from streams.kafka.permissions import KafkaAccessError, check_connection, explain_kafka_failure
    from streams.kafka.reading import TopicNotFoundError
    from streams.kafka.settings import Settings, SettingsError
    from streams.tools.dump import PartitionFiles, dump_topic

    try:
        settings = Settings.from_environment()
    except SettingsError as exc:
        fail(str(exc))
    name = settings.topic(topic)
    if partitioned is not None and (not records or out is not None):
        fail("--partitioned DIR writes whole records: give it with --records and without --out")
    try:
        sink = out.open("wb") if out is not None else None
        files = PartitionFiles(partitioned) if partitioned is not None else None
    except OSError as exc:
        fail(f"cannot write output {out or partitioned}: {exc.strerror or exc}")
    count = 0
    try:
        check_connection(settings)
        write = (sink or sys.stdout.buffer).write
        for value in dump_topic(
            settings.bootstrap_servers, name, settings.kafka_python_config(), records=records
        ):
            if files is not None:
                files.write(value)
            else:
                write(value + b"\n")
            count += 1
    except TopicNotFoundError as exc:
        fail(str(exc))
    except KafkaAccessError as exc:
        fail(str(exc), code=1)
    except KafkaError as exc:
        fail(explain_kafka_failure(settings, exc), code=1)
    finally:
        if files is not None:
            files.close()
        if sink is not None:
            sink.close()
        else:
            sys.stdout.buffer.flush()
    typer.echo(f"dump: {count} messages from {name}" + (f" into {partitioned}" if files else ""), err=True)


@app.command()
def acls(
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="Only this role (producer, worker, decisions, auditor); repeatable."),
    ] = None,
    principal: Annotated[
        list[str] | None,
        typer.Option(
            "--principal",
            metavar="ROLE=User:NAME",
            help="A role's Kafka principal (default User:ROLE, as deploy/kafka/start --secure names them).",
        ),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Create them on the cluster (KAFKA_* settings of an admin).")
    ] = False,
    create_topics: Annotated[
        bool, typer.Option("--create-topics", help="With --apply, also create the catalogue's topics.")
    ] = False,
    challenger: Annotated[
        bool, typer.Option("--challenger", help="The worker runs a shadow challenger (its decisions topic).")
    ] = False,
) -> None:
    """Print each role's ACLs, derived from the topic catalogue; with --apply, create them."""
    from kafka.errors import KafkaError

    from streams.kafka.permissions import KafkaAccessError, explain_kafka_failure
    from streams.kafka.settings import Settings, SettingsError
    from streams.tools.acls import AclsError, run_acls

    try:
        settings = Settings.from_environment()
        run_acls(
            settings,
            role or [],
            principal or [],
            apply=apply,
            create_topics=create_topics,
            challenger=challenger,
            echo=typer.echo,
        )
    except (SettingsError, AclsError, KafkaAccessError) as exc:
        fail(str(exc))
    except KafkaError as exc:
        fail(explain_kafka_failure(settings, exc), code=1)


@bench_app.command("decode")
def bench_decode_command(
    events: Annotated[int, typer.Option(min=1000, help="How many simulated events to decode.")] = 300_000,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the figures.")] = BENCH_DIR
    / "decode.json",
) -> None:
    """Events per second that one core decodes and validates."""
    from streams.tools.bench.worker import bench_decode, ensure_simulated_log, write_results

    log = ensure_simulated_log(BENCH_DIR / f"sim-{events}.jsonl", events, policy_or_exit(None))
    with log.open("rb") as source:
        lines = [line.rstrip(b"\n") for line in source][:events]
    result = bench_decode(lines)
    typer.echo(result.text())
    write_results(json_out, result)


@bench_app.command("replay")
def bench_replay_command(
    events: Annotated[int, typer.Option(min=1000, help="Size of the simulated log.")] = 1_000_000,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the figures.")] = BENCH_DIR
    / "replay.json",
    policy: PolicyOption = None,
) -> None:
    """Events per second of replay (decode, engine, encode, write) over a simulated log."""
    from streams.tools.bench.worker import bench_replay, ensure_simulated_log, write_results

    loaded = policy_or_exit(policy)
    log = ensure_simulated_log(BENCH_DIR / f"sim-{events}.jsonl", events, loaded)
    result = bench_replay(log, loaded)
    typer.echo(result.text())
    write_results(json_out, result)


@bench_app.command("backtest")
def bench_backtest_command(
    users: Annotated[int, typer.Option(min=100, help="Users of the simulated book.")] = 100_000,
    days: Annotated[int, typer.Option(min=1, help="Days of the simulated book.")] = 8,
    jobs: Annotated[int, typer.Option(min=1, max=256, help="Workers of the local Dask cluster.")] = 2,
    partitions: PartitionsOption = DEFAULT_SPLIT_PARTITIONS,
    cluster: ClusterOption = None,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the figures.")] = BENCH_DIR
    / "backtest.json",
) -> None:
    """Backtest a simulated book in one process and on Dask, back to back: lines/s of each, their
    ratio, and each worker's peak memory (the default and stricter policies)."""
    from streams.policy import DEFAULT_POLICY_PATH
    from streams.tools.bench.backtest import bench_backtest, ensure_book
    from streams.tools.bench.worker import write_results

    champion = policy_or_exit(None)
    challenger = policy_or_exit(DEFAULT_POLICY_PATH.parent / "stricter.toml")
    book = ensure_book(BENCH_DIR / f"book-{users}u-{days}d.jsonl", users, days, champion)
    results = bench_backtest(book, champion, challenger, jobs, partitions, cluster)
    for result in results:
        typer.echo(result.text())
    write_results(json_out, *results)


@bench_app.command("scale")
def bench_scale_command(
    users: Annotated[int, typer.Option(min=1000, help="Users of the simulated book.")] = 1_000_000,
    days: Annotated[int, typer.Option(min=1, help="Days of the simulated book.")] = 2,
    memory_mb: Annotated[
        int, typer.Option("--memory-mb", min=64, help="CREDITSTREAM_MEMORY_MB of the worker.")
    ] = 512,
    quick: Annotated[bool, typer.Option("--quick", help="100,000 users: a few minutes.")] = False,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the figures.")] = BENCH_DIR
    / "scale.json",
) -> None:
    """A lender's population on one worker (KAFKA_BOOTSTRAP_SERVERS): memory against the budget,
    throughput at few and at all users, state and changelog a user, warm restart and cold restore.
    Exits 1 when the worker's peak memory passes the budget plus its idle baseline."""
    import json
    import tempfile

    from streams.tools.bench.backtest import ensure_book
    from streams.tools.bench.scale import SMALL_BOOK_USERS, SMALL_BOOKS, bench_scale

    if quick:
        users = 100_000
    bootstrap = broker_or_exit().bootstrap_servers
    policy = policy_or_exit(None)
    # Other seeds, other user ids: each small book's users are new to the worker.
    small = [
        ensure_book(BENCH_DIR / f"book-small{n}-{SMALL_BOOK_USERS}u-{days}d.jsonl", SMALL_BOOK_USERS, days,
                    policy, seed=1 + n, id_prefix=f"small{n}-")
        for n in range(1, SMALL_BOOKS + 1)
    ]  # fmt: skip
    book = ensure_book(BENCH_DIR / f"book-{users}u-{days}d.jsonl", users, days, policy)
    with tempfile.TemporaryDirectory(prefix="creditstream-scale-") as workdir:
        result = bench_scale(bootstrap, small, book, users, Path(workdir), memory_mb)
    typer.echo(json.dumps({k: v for k, v in result.items() if k != "windows"}, indent=2))
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2) + "\n")
    typer.echo(f"figures: {json_out}")
    if not result["within_budget"]:
        fail(
            f"peak RSS {result['rss_peak_mb']} MB passed the budget {memory_mb} MB plus the idle "
            f"{result['rss_idle_mb']} MB",
            code=1,
        )


@bench_app.command("worker")
def bench_worker_command(
    events: Annotated[int, typer.Option(min=1000, help="Backlog size for the throughput run.")] = 100_000,
    rate: Annotated[
        float | None,
        typer.Option(min=1, help="Steady rate for the latency run, events/s (default: half the throughput)."),
    ] = None,
    seconds: Annotated[float, typer.Option(min=1, help="Length of the latency run.")] = 60,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes in the consumer group.")] = 1,
    quick: Annotated[
        bool, typer.Option("--quick", help="A short run: 20,000 events and 20 s of steady rate.")
    ] = False,
    passthrough: Annotated[
        bool, typer.Option(help="Also run the bare aiokafka passthrough on the same backlog.")
    ] = True,
    keep_topics: Annotated[
        bool, typer.Option("--keep-topics", help="Keep the run's topics (deleted by default).")
    ] = False,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the figures.")] = BENCH_DIR
    / "worker.json",
) -> None:
    """Live workers on the broker (KAFKA_BOOTSTRAP_SERVERS): throughput against a bare aiokafka
    passthrough on the same backlog, and latency at a steady rate."""
    import json
    import tempfile

    from streams.tools.bench.worker import bench_worker, summary_document

    if quick:
        events, seconds = 20_000, 20
    settings = broker_or_exit()
    with tempfile.TemporaryDirectory(prefix="creditstream-bench-") as workdir:
        throughput, latency = bench_worker(
            settings.bootstrap_servers,
            events,
            rate,
            seconds,
            Path(workdir),
            workers,
            passthrough=passthrough,
            keep_topics=keep_topics,
            client_config=settings.kafka_python_config(),
        )
    for result in (throughput, latency):
        typer.echo(result.text())
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(summary_document(throughput, latency), indent=2) + "\n")
    typer.echo(f"figures: {json_out}")


@bench_app.command("decisions")
def bench_decisions_command(
    rate: Annotated[float, typer.Option(min=1, help="Requests a second, for each path.")] = 200,
    seconds: Annotated[float, typer.Option(min=1, help="How long each path runs.")] = 20,
    under_load: Annotated[
        float,
        typer.Option(
            "--under-load",
            min=0,
            metavar="EVENTS_PER_S",
            help="Meanwhile, the worker also takes this many other events a second (e.g. 1000).",
        ),
    ] = 0,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the figures.")] = BENCH_DIR
    / "decisions.json",
) -> None:
    """Synchronous decisions on a live worker (KAFKA_BOOTSTRAP_SERVERS): call-to-answer latency of
    request_decision and of POST /v1/decisions at a steady request rate, alone or under load."""
    import tempfile

    from streams.tools.bench.decisions import bench_decisions
    from streams.tools.bench.worker import write_results

    bootstrap = broker_or_exit().bootstrap_servers  # PLAINTEXT only: bench_decisions' clients
    with tempfile.TemporaryDirectory(prefix="creditstream-bench-") as workdir:
        results = bench_decisions(bootstrap, rate, seconds, Path(workdir), background_rate=under_load)
    for result in results:
        typer.echo(result.text())
    write_results(json_out, *results)


def main() -> None:
    app()
