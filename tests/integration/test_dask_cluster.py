"""Replay and backtest on Dask distributed (issue 34): one process, a 2-worker LocalCluster and a
real scheduler with 2 worker processes over TCP on 127.0.0.1 give the same bytes; so does a run
that loses a worker mid-way; and a topic's flat dump and its partitioned dump give the same results.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client

from streams.policy import DEFAULT_POLICY_PATH, default_policy
from streams.testing import free_port, wait_until
from streams.tools.simulate import Simulation

STRICTER = DEFAULT_POLICY_PATH.parent / "stricter.toml"
DASK = Path(sys.executable).parent / "dask"


def cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *map(str, args)],
        capture_output=True,
        timeout=600,
        check=False,
        env={**os.environ, **(env or {})},
    )


def write_book(path: Path, users: int, days: int, seed: int) -> Path:
    lines = list(Simulation(users, days, seed, default_policy()).lines())
    lines[5:5] = [b"{not json", b'{"type": "purchase", "user_id": "u0000001"}']  # dead letters, line 6 and 7
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


class DaskCluster:
    """`dask scheduler` and `dask worker` processes on 127.0.0.1, as a team would run them."""

    def __init__(self, directory: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.directory = directory
        self.workers = workers
        self.processes: list[subprocess.Popen[bytes]] = []

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.directory / f"{name}.log").open("wb")
        self.processes.append(
            subprocess.Popen([str(DASK), *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )

    def start(self) -> DaskCluster:
        self._spawn(
            "scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"
        )
        for number in range(self.workers):
            self._spawn(
                f"worker-{number}", "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
                "--nworkers", "1", "--no-dashboard", "--memory-limit", "0",
            )  # fmt: skip
        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(self.workers, timeout=60)
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    running = DaskCluster(tmp_path_factory.mktemp("dask")).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_book(tmp_path_factory.mktemp("book") / "book.jsonl", 300, 120, 17)


def replay_bytes(log: Path | str, tmp_path: Path, *options: object) -> bytes:
    out = tmp_path / f"replay-{uuid.uuid4().hex[:6]}.jsonl"
    result = cli("replay", log, "--out", out, *options)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return out.read_bytes()


def backtest_outputs(log: Path | str, tmp_path: Path, *options: object) -> tuple[dict[str, Any], bytes, str]:
    report = tmp_path / f"report-{uuid.uuid4().hex[:6]}"
    result = cli(
        "backtest", log, "--champion", DEFAULT_POLICY_PATH, "--challenger", STRICTER, "--report", report,
        "--outcome-window-days", "60", *options,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    summary = json.loads((report / "summary.json").read_text())
    del summary["seconds"]
    summary.pop("run", None)  # how it ran (tasks, memory): the one part that is not the policies'
    return summary, (report / "differences.jsonl").read_bytes(), (report / "report.html").read_text()


def test_one_process_a_local_cluster_and_a_real_scheduler_give_the_same_bytes(
    book: Path, cluster: DaskCluster, tmp_path: Path
) -> None:
    alone = replay_bytes(book, tmp_path, "--jobs", "1")
    assert alone and b'"dead_letter"' in alone
    assert replay_bytes(book, tmp_path, "--jobs", "2") == alone
    assert replay_bytes(book, tmp_path, "--cluster", cluster.address) == alone

    one = backtest_outputs(book, tmp_path, "--jobs", "1")
    assert one[0]["decisions_that_differ"] > 0 and one[0]["invalid_lines"] == 2
    assert backtest_outputs(book, tmp_path, "--jobs", "2") == one
    assert backtest_outputs(book, tmp_path, "--cluster", cluster.address, "--partitions", "5") == one


def test_the_summary_says_how_it_ran_with_each_tasks_peak_memory(book: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    result = cli(
        "backtest", book, "--champion", DEFAULT_POLICY_PATH, "--challenger", STRICTER, "--report", report,
        "--jobs", "2", "--partitions", "4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    run = json.loads((report / "summary.json").read_text())["run"]
    assert run["engine"] == "dask" and run["workers"] == 2
    assert sorted(task["partition"] for task in run["tasks"]) == [0, 1, 2, 3]
    assert all(0 < task["task_peak_rss_mb"] < 4096 for task in run["tasks"])


def test_a_worker_killed_mid_run_still_gives_the_same_bytes(tmp_path: Path) -> None:
    log = write_book(tmp_path / "big.jsonl", 800, 150, 23)
    expected = backtest_outputs(log, tmp_path, "--jobs", "1")
    lost = DaskCluster(tmp_path, workers=2).start()
    try:
        report = tmp_path / "report-killed"
        run = subprocess.Popen(
            [sys.executable, "-m", "streams", "backtest", str(log), "--champion", str(DEFAULT_POLICY_PATH),
             "--challenger", str(STRICTER), "--report", str(report), "--outcome-window-days", "60",
             "--cluster", lost.address, "--partitions", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        with Client(lost.address, timeout=30) as client:
            pids = client.run(os.getpid)

            def busy_worker() -> str | None:
                if run.poll() is not None:
                    raise AssertionError(f"the backtest ended early: {run.communicate()[1].decode()[-2000:]}")
                processing = {worker: keys for worker, keys in client.processing().items() if keys}
                partition_tasks = [
                    w for w, keys in processing.items() if any("_backtest_part" in k for k in keys)
                ]
                return partition_tasks[0] if partition_tasks else None

            wait_until(lambda: busy_worker() is not None, 120, "a backtest task running on a worker")
            victim = busy_worker()
            assert victim is not None
            time.sleep(0.5)  # inside the task (half the book, seconds long): part of it applied
            os.kill(pids[victim], signal.SIGKILL)
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr.decode()[-2000:]
        summary = json.loads((report / "summary.json").read_text())
        del summary["seconds"]
        summary.pop("run")
        got = (summary, (report / "differences.jsonl").read_bytes(), (report / "report.html").read_text())
        assert got == expected
    finally:
        lost.stop()


@pytest.mark.broker
def test_a_flat_dump_and_its_partitioned_dump_give_the_same_results(bootstrap: str, tmp_path: Path) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "CREDITSTREAM_TOPIC_PREFIX": f"dask{uuid.uuid4().hex[:8]}."}
    log = write_book(tmp_path / "events.jsonl", 120, 90, 31)
    produced = cli("produce", log, env=env)
    assert produced.returncode == 0, produced.stderr.decode()
    flat, directory = tmp_path / "flat.jsonl", tmp_path / "partitions"
    assert cli("dump", "credit.events", "--records", "--out", flat, env=env).returncode == 0
    dumped = cli("dump", "credit.events", "--records", "--partitioned", directory, env=env)
    assert dumped.returncode == 0, dumped.stderr.decode()
    files = sorted(path.name for path in directory.iterdir())
    assert files and all(name.startswith("partition-") for name in files)
    assert sum(len(path.read_bytes().splitlines()) for path in directory.iterdir()) == len(
        flat.read_bytes().splitlines()
    )

    assert replay_bytes(directory, tmp_path, "--jobs", "2") == replay_bytes(flat, tmp_path, "--jobs", "1")
    assert backtest_outputs(directory, tmp_path, "--jobs", "2") == backtest_outputs(
        flat, tmp_path, "--jobs", "1"
    )
    # A flat log split by Dask on the way in gives them too.
    assert replay_bytes(flat, tmp_path, "--jobs", "2") == replay_bytes(flat, tmp_path, "--jobs", "1")
