"""`creditstream bench backtest`: a simulated book backtested in one process and on Dask, back to
back on this machine; lines a second of each, their ratio, and each Dask worker's peak memory.

The book is simulated once (``--users``, ``--days``) and kept in the bench directory. The
one-process run is the peer: the Dask figure is worth most as a ratio against it, measured in the
same run. Both runs write their report; the figures of the policies must be equal, which the
bench checks (a distributed run that is fast and wrong is not a result).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from streams.policy import Policy
from streams.tools.backtest import BacktestResult, run_backtest
from streams.tools.bench.worker import BenchResult, write_simulation
from streams.tools.cluster import backtest_distributed, open_engine
from streams.tools.simulate import Simulation

__all__ = ["bench_backtest", "ensure_book"]


def ensure_book(
    path: Path, users: int, days: int, policy: Policy, seed: int = 1, id_prefix: str = ""
) -> Path:
    """The simulated book at ``path``, made once."""
    if path.exists():
        return path
    return write_simulation(
        path, Simulation(users=users, days=days, seed=seed, policy=policy, id_prefix=id_prefix)
    )


def _figures(result: BacktestResult) -> dict[str, Any]:
    summary = result.summary()
    summary.pop("seconds")
    summary.pop("run", None)
    return summary


def bench_backtest(
    book: Path, champion: Policy, challenger: Policy, jobs: int, partitions: int, cluster: str | None = None
) -> list[BenchResult]:
    """[one process, Dask] over the same book, back to back."""
    began = time.perf_counter()
    alone = run_backtest(lambda: book.open("rb"), champion, challenger)
    alone_seconds = time.perf_counter() - began
    lines = alone.events + alone.invalid_lines
    began = time.perf_counter()
    with open_engine(cluster, jobs, partitions=partitions) as engine:
        started = time.perf_counter() - began
        spread = backtest_distributed(engine, str(book), champion, challenger, None)
    dask_seconds = time.perf_counter() - began
    same = json.dumps(_figures(alone), sort_keys=True) == json.dumps(_figures(spread), sort_keys=True)
    if not same:
        raise RuntimeError("the Dask backtest's figures differ from one process's: not a result")
    one = BenchResult(
        "backtest-one-process", lines, alone_seconds, lines / alone_seconds, {"book": str(book)}
    )
    workers = spread.run["workers"]
    tasks = spread.run["tasks"]
    return [
        one,
        BenchResult(
            "backtest-dask",
            lines,
            dask_seconds,
            lines / dask_seconds,
            {
                "workers": workers,
                "partitions": len(tasks),
                "cluster": cluster or f"LocalCluster({jobs} processes, 1 thread each)",
                "cluster_start_seconds": round(started, 2),
                "ratio_to_one_process": round(alone_seconds / dask_seconds, 3),
                "ratio_to_one_process_per_worker": round(alone_seconds / dask_seconds / workers, 3),
                "task_peak_rss_mb": max(task["task_peak_rss_mb"] for task in tasks),
                "tasks": tasks,
                "figures_equal_to_one_process": same,
            },
        ),
    ]
