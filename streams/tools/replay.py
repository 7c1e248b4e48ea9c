"""`creditstream replay`: run a JSONL log of input events through the engine, offline.

Lines are taken in file order, as if from one partition; every output (decision, score_changed,
limit_changed, dead_letter) is written as one JSON line. A line is either an event, or a Kafka
record as `creditstream dump --records` writes it (streams.records): then it is processed as
the worker processed that record. A bad line becomes a dead_letter with source_topic "replay" and
offset = its line number, and the run goes on.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from streams.engine import UserState
from streams.log_steps import replay_steps
from streams.policy import Policy
from streams.processing import Step

__all__ = ["ReplaySummary", "replay_lines"]


@dataclass
class ReplaySummary:
    lines: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    users: int = 0
    outputs: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def count(self, step: Step) -> None:
        """Count one line's step: applied, duplicate or dead letter, and its outputs by type."""
        if step.dead_letter_kind is not None:
            self.dead_letters += 1
        elif step.duplicate:
            self.duplicates += 1
        else:
            self.applied += 1
        for output in step.engine_outputs:
            self.outputs[output.type] += 1

    def add(self, other: ReplaySummary) -> None:
        """Add another shard's counts (over the same lines, other users)."""
        self.lines = max(self.lines, other.lines)
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.dead_letters += other.dead_letters
        self.users += other.users
        self.outputs.update(other.outputs)

    def finish(self, seconds: float) -> None:
        """Count dead letters among the outputs, and take the time."""
        self.outputs["dead_letter"] += self.dead_letters
        self.outputs = +self.outputs  # no zero counts
        self.seconds = seconds

    def text(self) -> str:
        rate = self.lines / self.seconds if self.seconds else 0.0
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.outputs.items())) or "none"
        return (
            f"replay: {self.lines} lines, {self.applied} applied, {self.duplicates} duplicates, "
            f"{self.dead_letters} dead letters, {self.users} users; outputs: {kinds}; "
            f"{self.seconds:.2f}s ({rate:,.0f} lines/s)"
        )


def replay_lines(
    lines: Iterable[bytes],
    out: BinaryIO,
    policy: Policy,
    on_line: Callable[[int], None] | None = None,
    states: dict[str, UserState] | None = None,
) -> ReplaySummary:
    """Replay and write every output as a line; returns the summary. ``states``, when given, is
    left holding every user's final state."""
    summary = ReplaySummary()
    states = {} if states is None else states
    began = time.perf_counter()
    write = out.write
    for number, step in replay_steps(lines, policy, states):
        summary.lines = number
        summary.count(step)
        for _, record in step.outputs:
            write(record)
            write(b"\n")
        if on_line is not None:
            on_line(number)
    summary.users = len(states)
    summary.finish(time.perf_counter() - began)
    return summary
