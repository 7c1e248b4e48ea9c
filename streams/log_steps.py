"""A log's lines through the processing core, in order: the steps that replay and explain share.

A line is either an input event or a Kafka record as `creditstream dump --records` writes it
(streams.records): then it is processed as the worker processed that record. Lines are taken in
the order given, as if from one partition; a bad line is refused with source_topic "replay" and
offset = its line number. Here, below the tools, so that `creditstream explain` and the offline
tools build on the same floor as the worker and never on one another.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from streams.engine import UserState
from streams.policy import Policy
from streams.processing import Message, Step, process, refuse
from streams.records import RECORD_PREFIX, RecordLineError, message_from_record_line

__all__ = ["REPLAY_TOPIC", "replay_numbered", "replay_steps"]

REPLAY_TOPIC: Final = "replay"


def replay_steps(
    lines: Iterable[bytes], policy: Policy, states: dict[str, UserState] | None = None
) -> Iterator[tuple[int, Step]]:
    """(line number, step) for each line; ``states`` holds every user's state as the run goes."""
    return replay_numbered(enumerate(lines, start=1), policy, states)


def replay_numbered(
    lines: Iterable[tuple[int, bytes]], policy: Policy, states: dict[str, UserState] | None = None
) -> Iterator[tuple[int, Step]]:
    """As replay_steps, for lines that carry their own line numbers (a shard of a log).

    ``states`` owns every user's state: the engine changes a user's state in place for each of
    their lines, so a step's ``state`` is the user's live state, not a snapshot."""
    table = states if states is not None else {}
    load = table.get
    for number, line in lines:
        value = line.rstrip(b"\r\n")
        message = Message(REPLAY_TOPIC, None, number, None, value, None)
        if value.startswith(RECORD_PREFIX):  # a Kafka record, as `dump --records` wrote it
            try:
                message = message_from_record_line(value)
            except RecordLineError as exc:
                yield number, refuse(message, str(exc), "not_json")
                continue
        step = process(message, load, policy, owned=True)
        if step.state is not None and step.user_id is not None:
            table[step.user_id] = step.state
        yield number, step
