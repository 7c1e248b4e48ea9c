"""Benchmarks (commands that print figures and write JSON, never timed tests).

decode: events per second that one core decodes and validates (bytes -> event).
replay: events per second of `creditstream replay` (decode, engine, encode, write) on a simulated log.
"""

from __future__ import annotations

import io
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from schemas.codec import DecodeError, decode_event
from streams.policy import Policy
from streams.replay import replay_lines
from streams.simulation import Simulation

__all__ = ["BenchResult", "bench_decode", "bench_replay", "ensure_simulated_log"]


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

    def write_json(self, path: Path) -> None:
        document = {**asdict(self), "machine": _machine()}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n")


def ensure_simulated_log(path: Path, events: int, policy: Policy, seed: int = 1) -> Path:
    """A simulated log of at least ``events`` lines at ``path`` (made once, then reused)."""
    if path.exists() and _count_lines(path) >= events:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    users = max(100, events // 150)  # about 150 events a user over 100 days
    simulation = Simulation(users=users, days=400, seed=seed, policy=policy)
    written = 0
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        for line in simulation.lines():
            out.write(line + b"\n")
            written += 1
            if written >= events:
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
    """Replay the whole log into memory (writing included), as `creditstream replay` does."""
    sink = io.BytesIO()
    began = time.perf_counter()
    with log.open("rb") as source:
        summary = replay_lines(source, sink, policy)
    seconds = time.perf_counter() - began
    return BenchResult(
        "replay", summary.lines, seconds, summary.lines / seconds,
        {"users": summary.users, "outputs": dict(summary.outputs), "output_bytes": sink.tell()},
    )  # fmt: skip


def _count_lines(path: Path) -> int:
    with path.open("rb") as source:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: source.read(1 << 20), b""))


def _machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "processor": platform.processor()}
