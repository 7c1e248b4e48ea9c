"""One message through the engine: decode, apply, encode. Shared by the live worker and replay.

Both shells call ``process`` and publish the encoded bytes it returns, so a replay of a topic's log
reproduces the live outputs byte for byte. Bad input becomes a dead-letter record here, never an
exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from schemas.codec import DecodeError, dead_letter, decode_event, encode
from schemas.topics import EVENT_TYPE_TOPIC
from streams.engine import UserState, apply
from streams.engine.apply import EngineOutput
from streams.policy import Policy

__all__ = ["DEAD_LETTER_TOPIC", "Message", "Step", "process"]

DEAD_LETTER_TOPIC: Final = EVENT_TYPE_TOPIC["dead_letter"]


@dataclass(frozen=True, slots=True)
class Message:
    """A raw input message and where it came from (replay: topic "replay", offset = line number)."""

    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes | None
    timestamp: datetime | None = None


@dataclass(slots=True)
class Step:
    """The result of one message.

    ``state`` is the user's new state, to be stored (None when there is nothing to store).
    ``outputs`` are (topic, encoded record) pairs in the engine's documented order; a dead letter is
    among them when the message could not be applied, and ``dead_letter_reason`` says why.
    """

    user_id: str | None
    event_type: str | None
    state: UserState | None
    outputs: list[tuple[str, bytes]] = field(default_factory=list)
    engine_outputs: list[EngineOutput] = field(default_factory=list)
    dead_letter_reason: str | None = None
    duplicate: bool = False


def process(message: Message, load_state: Callable[[str], UserState | None], policy: Policy) -> Step:
    """Decode the message, apply it to its user's state, and encode what comes out."""
    event = decode_event(message.value)
    if isinstance(event, DecodeError):
        return _dead(message, event.reason, event.user_id, event.event_type)
    if message.key is not None and message.key != event.user_id.encode():
        # A message keyed by anything but its user_id may sit on another user's partition, and
        # its user's state on another worker: applying it would split the user's state.
        return _dead(
            message,
            f"key {message.key.decode('utf-8', 'replace')!r} does not match user_id {event.user_id!r}; "
            "every message must be keyed by its user_id",
            event.user_id,
            event.type,
        )
    applied = apply(load_state(event.user_id), event, policy)
    if applied.rejection is not None:
        step = _dead(message, applied.rejection, event.user_id, event.type)
        step.state = applied.state
        return step
    return Step(
        user_id=event.user_id,
        event_type=event.type,
        state=applied.state,
        outputs=[(EVENT_TYPE_TOPIC[o.type], encode(o)) for o in applied.outputs],
        engine_outputs=applied.outputs,
        duplicate=applied.duplicate,
    )


def _dead(message: Message, reason: str, user_id: str | None, event_type: str | None) -> Step:
    record = dead_letter(
        message.value,
        reason,
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        received_at=message.timestamp,
    )
    return Step(
        user_id=user_id,
        event_type=event_type,
        state=None,
        outputs=[(DEAD_LETTER_TOPIC, encode(record))],
        dead_letter_reason=reason,
    )
