"""`replay` and `backtest` on Dask distributed: one task per partition of the log.

The same engine for every size. Without ``--cluster``, a ``LocalCluster`` of ``--jobs`` worker
processes (one thread each: the engine is pure Python and holds the GIL); with ``--cluster
ADDRESS``, a running scheduler (``dask scheduler`` with ``dask worker``s, dask-kubernetes,
dask-yarn), unchanged. A flat log is first split by partition (streams.tools.partitioned) as one
task; a partitioned directory is used as it is.

Each task applies one partition's lines (a set of whole users), so it holds those users' states
and one line at a time, never the whole log. It writes its outputs, each tagged with its line
number, to a scratch directory (local by default; give ``--scratch URL`` on a shared filesystem
or object storage when workers run on other machines), and returns its counts. The client merges
the outputs by line number: the same bytes as one process. A task whose worker dies is run again
by Dask on another (its scratch file is written again whole), and the result does not change.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import importlib.util
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

import fsspec
import orjson
import psutil
from distributed import Client, LocalCluster, as_completed

from streams.engine import UserState
from streams.gc_tuning import THRESHOLDS, tune_gc
from streams.log_steps import replay_numbered
from streams.policy import Policy
from streams.tools.backtest import OUTCOME_WINDOW_DAYS, BacktestResult, ByteSink, run_backtest_numbered
from streams.tools.partitioned import Part, count_lines, is_partitioned, partition_parts, read_part, split_log
from streams.tools.progress import progress_bar
from streams.tools.replay import ReplaySummary

__all__ = ["DEFAULT_PARTITIONS", "Engine", "backtest_distributed", "open_engine", "replay_distributed"]

DEFAULT_PARTITIONS: Final = 8  # a flat log's split, as the topics are partitioned by default
_HEADER: Final = struct.Struct("<QI")  # line number, record length


class Engine:
    """A Dask client and where its tasks write: what a distributed run needs."""

    def __init__(self, client: Client, scratch: str, partitions: int) -> None:
        self.client = client
        self.scratch = scratch.rstrip("/")
        self.partitions = partitions


@contextlib.contextmanager
def open_engine(
    cluster: str | None, jobs: int, scratch: str | None = None, partitions: int = DEFAULT_PARTITIONS
) -> Iterator[Engine]:
    """A client on the scheduler at ``cluster``, or on a LocalCluster of ``jobs`` processes; the
    run's scratch files are removed afterwards."""
    dashboard = importlib.util.find_spec("bokeh") is not None
    with contextlib.ExitStack() as stack:
        if cluster is None:
            local = stack.enter_context(
                LocalCluster(
                    n_workers=jobs,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0" if dashboard else None,
                    silence_logs=40,
                )
            )
            client = stack.enter_context(Client(local))
        else:
            client = stack.enter_context(Client(cluster, timeout=30))
        if dashboard:
            print(f"dask dashboard: {client.dashboard_link}", file=sys.stderr)
        root = scratch or stack.enter_context(tempfile.TemporaryDirectory(prefix="creditstream-dask-"))
        run = f"{root.rstrip('/')}/run-{uuid.uuid4().hex[:12]}"
        fs, path = fsspec.core.url_to_fs(run)
        fs.makedirs(path, exist_ok=True)
        try:
            yield Engine(client, run, partitions)
        finally:
            with contextlib.suppress(OSError):
                fs.rm(path, recursive=True)


def _parts(engine: Engine, url: str) -> list[Part]:
    """The log's partition files: a directory's own, or a flat log split first (one task)."""
    client = engine.client
    if not is_partitioned(url):
        split = f"{engine.scratch}/split"
        client.submit(split_log, url, split, engine.partitions, pure=False).result()
        return partition_parts(split)
    parts = partition_parts(url)
    if all(part.numbered for part in parts):
        return parts
    counts = client.gather(client.map(count_lines, [part.url for part in parts], pure=False))
    return partition_parts(url, dict(zip((part.url for part in parts), counts, strict=True)))


class _PeakMemory:
    """The worker process's resident memory at its highest while a task runs, sampled every
    ``SAMPLE_SECONDS`` by a thread (the task runs pure Python: the sampler gets the GIL between
    its lines). A process's lifetime peak would carry an earlier task's over to this one."""

    SAMPLE_SECONDS: Final = 0.1

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak: int = self.process.memory_info().rss
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)

    def _sample(self) -> None:
        while not self.stopped.wait(self.SAMPLE_SECONDS):
            self.peak = max(self.peak, int(self.process.memory_info().rss))

    def __enter__(self) -> _PeakMemory:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()
        self.peak = max(self.peak, int(self.process.memory_info().rss))

    @property
    def megabytes(self) -> float:
        return round(self.peak / 2**20, 1)


def _tuned_collector() -> None:
    """The collector as the command line sets it (streams.gc_tuning), in a worker process Dask
    started: with Python's defaults, its passes over many users' states took a third of a task."""
    if gc.get_threshold() != THRESHOLDS:
        tune_gc()


def _replay_part(part: Part, policy: Policy, out_url: str) -> tuple[ReplaySummary, dict[str, Any]]:
    _tuned_collector()
    began = time.perf_counter()
    states: dict[str, UserState] = {}
    summary = ReplaySummary()
    with _PeakMemory() as memory, fsspec.open(out_url, "wb") as sink:
        write, pack = sink.write, _HEADER.pack
        for number, step in replay_numbered(read_part(part), policy, states):
            summary.lines = max(summary.lines, number)
            summary.count(step)
            for _, record in step.outputs:
                write(pack(number, len(record)))
                write(record)
    summary.users = len(states)
    return summary, _task_facts(part, summary.lines, began, memory, summary.users)


def _task_facts(part: Part, last_line: int, began: float, memory: _PeakMemory, users: int) -> dict[str, Any]:
    return {
        "partition": part.partition,
        "users": users,
        "seconds": round(time.perf_counter() - began, 2),
        "task_peak_rss_mb": memory.megabytes,
        "last_line": last_line,
    }


def _tagged(url: str) -> Iterator[tuple[int, bytes]]:
    with fsspec.open(url, "rb") as source:
        read = source.read
        while header := read(_HEADER.size):
            number, length = _HEADER.unpack(header)
            yield number, read(length)


def _progress(futures: list[Any], label: str) -> Iterator[Any]:
    """Each future as Dask reports it done, with partitions done on a progress bar (stderr, when it
    is a terminal); Dask's dashboard, when installed, shows each task's progress too."""
    with progress_bar(f"{label}: partitions done", len(futures)) as advance:
        for done, future in enumerate(as_completed(futures), start=1):
            yield future
            advance(done)


def replay_distributed(engine: Engine, url: str, out: BinaryIO, policy: Policy) -> ReplaySummary:
    """Replay the log at ``url`` on the engine; the output is the same bytes as one process's."""
    began = time.perf_counter()
    parts = _parts(engine, url)
    outs = [f"{engine.scratch}/replay-{part.partition:04d}.bin" for part in parts]
    client = engine.client
    # The policy goes with each task, not scattered once: a scattered value lost with its worker
    # cannot be made again, and every task that needs it would fail ("already forgotten").
    futures = [
        client.submit(_replay_part, part, policy, target, pure=False)
        for part, target in zip(parts, outs, strict=True)
    ]
    summary = ReplaySummary()
    for future in _progress(futures, "replay"):
        part_summary, _ = future.result()
        summary.add(part_summary)
    write = out.write
    for _, record in heapq.merge(*(_tagged(target) for target in outs), key=lambda o: o[0]):
        write(record)
        write(b"\n")
    summary.finish(time.perf_counter() - began)
    return summary


def _backtest_part(
    part: Part, champion: Policy, challenger: Policy, differences_url: str, examples: int, window_days: int
) -> tuple[BacktestResult, dict[str, Any]]:
    _tuned_collector()
    began = time.perf_counter()
    last = [0]

    def lines() -> Iterator[tuple[int, bytes]]:
        for number, line in read_part(part):
            last[0] = number
            yield number, line

    with _PeakMemory() as memory, fsspec.open(differences_url, "wb") as sink:
        result = run_backtest_numbered(
            lines, champion, challenger, _TaggedDifferences(sink), examples=examples, window_days=window_days
        )
    return result, _task_facts(part, last[0], began, memory, result.champion.users)


def backtest_distributed(
    engine: Engine,
    url: str,
    champion: Policy,
    challenger: Policy,
    differences_out: ByteSink | None,
    examples: int = 200,
    window_days: int = OUTCOME_WINDOW_DAYS,
) -> BacktestResult:
    """Backtest the log at ``url`` on the engine: the same report as one process, and the
    differences in log order."""
    began = time.perf_counter()
    parts = _parts(engine, url)
    client = engine.client
    targets = [f"{engine.scratch}/differences-{part.partition:04d}.bin" for part in parts]
    futures = [
        client.submit(
            _backtest_part,
            part,
            champion,
            challenger,
            target,
            examples,
            window_days,
            pure=False,
        )
        for part, target in zip(parts, targets, strict=True)
    ]
    outcomes: list[tuple[BacktestResult, dict[str, Any]]] = [
        future.result() for future in _progress(futures, "backtest")
    ]
    outcomes.sort(key=lambda outcome: outcome[1]["partition"])  # merged in one order, whatever finished first
    results = [result for result, _ in outcomes]
    merged = results[0]
    for part in results[1:]:
        merged.champion.merge(part.champion)
        merged.challenger.merge(part.challenger)
        merged.events += part.events
        merged.invalid_lines += part.invalid_lines
        merged.differences += part.differences
        merged.last_event_at = max(merged.last_event_at, part.last_event_at)
    ordered = heapq.merge(*(part.difference_examples for part in results), key=lambda d: int(d["line"]))
    merged.difference_examples = [d for _, d in zip(range(examples), ordered, strict=False)]
    if differences_out is not None:
        for _, line in heapq.merge(*(_tagged(target) for target in targets), key=lambda o: o[0]):
            differences_out.write(line)
    merged.seconds = time.perf_counter() - began
    merged.run = {
        "engine": "dask",
        "workers": len(client.scheduler_info()["workers"]),
        "tasks": [f for _, f in outcomes],
    }
    return merged


class _TaggedDifferences:
    """A differences file that prefixes each JSON line with its log line number, for the merge."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink

    def write(self, line: bytes) -> int:
        number = orjson.loads(line)["line"]
        self.sink.write(_HEADER.pack(number, len(line)))
        return self.sink.write(line)
