"""`replay --jobs N` and `backtest --jobs N`: users sharded across processes, results merged back
into one job's.

A user's state depends only on that user's events, so the users of a log can be split between
processes as Kafka splits them between partitions. Each job reads the whole log, applies the lines
of its users (with their own line numbers, so dead letters name the same offsets), and writes its
outputs tagged with the line they came from; the parent merges the jobs by line number. The
result is byte for byte the output of one job.

A line's shard comes from its ``user_id`` (found by a quick scan, else by parsing the line): every
line of a user goes to the same job. A line with no readable user changes no state; it goes to
job 0, which writes its dead letter.
"""

from __future__ import annotations

import heapq
import multiprocessing
import pickle
import re
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Final

import orjson

from streams.engine import UserState
from streams.log_steps import replay_numbered
from streams.policy import Policy
from streams.records import RECORD_PREFIX
from streams.tools.backtest import OUTCOME_WINDOW_DAYS, BacktestResult, ByteSink, run_backtest
from streams.tools.replay import ReplaySummary

__all__ = ["backtest_sharded", "replay_sharded", "shard_of"]

_USER_ID: Final = re.compile(rb'"user_id"\s*:\s*"([^"\\]*)"')
_HEADER: Final = struct.Struct("<QI")  # line number, record length


def shard_of(line: bytes, jobs: int) -> int:
    """The job that applies this line: the same for every line of one user."""
    user = _user_of(line)
    return zlib.crc32(user) % jobs if user is not None else 0


def _user_of(line: bytes) -> bytes | None:
    value = line
    if line.startswith(RECORD_PREFIX):  # a `dump --records` line: the event is its value
        try:
            record = orjson.loads(line)
            value = record["value"].encode() if isinstance(record.get("value"), str) else b""
        except (orjson.JSONDecodeError, AttributeError):
            return None
    found = _USER_ID.search(value)
    if found is not None and value.find(b'"user_id"') == found.start():
        return found.group(1)
    try:  # unusual spacing or escapes: parse it
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    user = document.get("user_id") if isinstance(document, dict) else None
    return user.encode() if isinstance(user, str) else None


def replay_sharded(path: Path, out: BinaryIO, policy: Policy, jobs: int) -> ReplaySummary:
    """Replay ``path`` in ``jobs`` processes; the output is the same bytes as one job's."""
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="creditstream-replay-") as scratch:
        directory = Path(scratch)
        _run_jobs("replay", _replay_job, jobs, lambda job: (path, policy, jobs, job, directory))
        merged = heapq.merge(
            *(_outputs(directory / f"job-{job}.bin") for job in range(jobs)), key=lambda o: o[0]
        )
        write = out.write
        for _, record in merged:
            write(record)
            write(b"\n")
        summary = ReplaySummary()
        for part in _results(directory, jobs):
            summary.add(part)
    summary.finish(time.perf_counter() - began)
    return summary


def _run_jobs(
    label: str, target: Callable[..., None], jobs: int, args: Callable[[int], tuple[Any, ...]]
) -> None:
    """Run ``target(*args(job))`` in one forked process per job (the policy and the imports are
    shared as they are); each writes job-N.pickle. Raises when any job fails."""
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=target, args=args(job), name=f"{label}-{job}") for job in range(jobs)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{label} jobs failed: {', '.join(failed)}")


def _results(directory: Path, jobs: int) -> list[Any]:
    """What each job pickled, in job order (written by our own child processes just now)."""
    parts = []
    for job in range(jobs):
        with (directory / f"job-{job}.pickle").open("rb") as source:
            parts.append(pickle.load(source))
    return parts


def _replay_job(path: Path, policy: Policy, jobs: int, job: int, directory: Path) -> None:
    states: dict[str, UserState] = {}
    summary = ReplaySummary()

    def mine() -> Iterator[tuple[int, bytes]]:
        with path.open("rb") as source:
            for number, line in enumerate(source, start=1):
                summary.lines = number
                if shard_of(line.rstrip(b"\r\n"), jobs) == job:
                    yield number, line

    with (directory / f"job-{job}.bin").open("wb") as sink:
        write, pack = sink.write, _HEADER.pack
        for number, step in replay_numbered(mine(), policy, states):
            summary.count(step)
            for _, record in step.outputs:
                write(pack(number, len(record)))
                write(record)
    summary.users = len(states)
    with (directory / f"job-{job}.pickle").open("wb") as sink:
        pickle.dump(summary, sink)


def _outputs(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as source:
        read = source.read
        while header := read(_HEADER.size):
            number, length = _HEADER.unpack(header)
            yield number, read(length)


def backtest_sharded(
    path: Path,
    champion: Policy,
    challenger: Policy,
    differences_out: ByteSink | None,
    jobs: int,
    examples: int = 200,
    window_days: int = OUTCOME_WINDOW_DAYS,
) -> BacktestResult:
    """Backtest ``path`` in ``jobs`` processes: the same report, and differences in log order."""
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="creditstream-backtest-") as scratch:
        directory = Path(scratch)
        _run_jobs(
            "backtest",
            _backtest_job,
            jobs,
            lambda job: (path, champion, challenger, jobs, job, directory, examples, window_days),
        )
        parts: list[BacktestResult] = _results(directory, jobs)
        result = parts[0]
        for part in parts[1:]:
            result.champion.merge(part.champion)
            result.challenger.merge(part.challenger)
            result.events += part.events
            result.invalid_lines += part.invalid_lines
            result.differences += part.differences
            result.last_event_at = max(result.last_event_at, part.last_event_at)
        ordered = heapq.merge(*(part.difference_examples for part in parts), key=lambda d: int(d["line"]))
        result.difference_examples = [d for _, d in zip(range(examples), ordered, strict=False)]
        if differences_out is not None:
            files = [_outputs(directory / f"differences-{job}.bin") for job in range(jobs)]
            for _, line in heapq.merge(*files, key=lambda o: o[0]):
                differences_out.write(line)
    result.seconds = time.perf_counter() - began
    return result


def _backtest_job(
    path: Path,
    champion: Policy,
    challenger: Policy,
    jobs: int,
    job: int,
    directory: Path,
    examples: int,
    window_days: int,
) -> None:
    def lines() -> BinaryIO:
        return path.open("rb")

    with (directory / f"differences-{job}.bin").open("wb") as differences:
        tagged = _TaggedDifferences(differences)
        result = run_backtest(
            lines,
            champion,
            challenger,
            tagged,
            examples=examples,
            keep=lambda line: shard_of(line.rstrip(b"\r\n"), jobs) == job,
            window_days=window_days,
        )
    with (directory / f"job-{job}.pickle").open("wb") as sink:
        pickle.dump(result, sink)


class _TaggedDifferences:
    """A differences file that prefixes each JSON line with its log line number, for the merge."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink

    def write(self, line: bytes) -> int:
        number = orjson.loads(line)["line"]
        self.sink.write(_HEADER.pack(number, len(line)))
        return self.sink.write(line)
