"""One message through the engine: decode, apply, encode. Shared by the live worker and replay.

Both shells call ``process`` and publish the encoded bytes it returns, so a replay of the applied
log reproduces the live decisions, score changes and limit changes byte for byte (dead letters
name their source position, which differs between a topic and a file). Bad input becomes a
dead-letter record here, never an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from schemas.codec import DecodeError, dead_letter, decode_event, encode
from schemas.outputs import Decision
from schemas.topics import DEAD_LETTER, EVENT_TYPE_TOPIC
from streams.engine import StateDecodeError, UserState, apply
from streams.engine.apply import EngineOutput
from streams.policy import Policy

__all__ = ["DEAD_LETTER_TOPIC", "Message", "Step", "process"]

DEAD_LETTER_TOPIC: Final = DEAD_LETTER.name
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    """A raw input message and where it came from (replay: topic "replay", offset = line number)."""

    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None  # the Kafka record timestamp, epoch seconds (none in replay)


@dataclass(slots=True)
class Step:
    """The result of one message.

    ``state`` is the user's new state, to be stored (None when there is nothing to store).
    ``outputs`` are (topic, encoded record) pairs in the engine's documented order; a dead letter is
    among them when the message could not be applied, and ``dead_letter_kind`` says which kind.
    """

    user_id: str | None
    event_type: str | None
    state: UserState | None
    outputs: list[tuple[str, bytes]] = field(default_factory=list)
    engine_outputs: list[EngineOutput] = field(default_factory=list)
    dead_letter_kind: str | None = None  # closed set, for metrics: a DecodeErrorKind, key_mismatch, rejected
    duplicate: bool = False
    shadow_decisions: list[Decision] = field(default_factory=list)


def process(
    message: Message,
    load_state: Callable[[str], UserState | None],
    policy: Policy,
    challenger: Policy | None = None,
) -> Step:
    """Decode the message, apply it to its user's state, and encode what comes out.

    With a ``challenger`` policy (shadow mode), a request is also decided by the challenger on the
    same state as it stood before the request; that decision goes to ``shadow_decisions`` and its
    state is thrown away, so the challenger never changes anything.

    Never raises: a message that breaks anything, even a bug, becomes a dead letter that says what
    happened (kind "internal_error"), so one message can never stop the stream or be lost.
    """
    try:
        return _process(message, load_state, policy, challenger)
    except StateDecodeError as exc:
        return _dead(
            message, f"the user's stored state cannot be read: {exc}", "state_unreadable", None, None
        )
    except Exception as exc:
        log.exception("internal error on %s[%s]@%s", message.topic, message.partition, message.offset)
        return _dead(message, f"internal error: {type(exc).__name__}: {exc}", "internal_error", None, None)


def _process(
    message: Message,
    load_state: Callable[[str], UserState | None],
    policy: Policy,
    challenger: Policy | None,
) -> Step:
    event = decode_event(message.value)
    if isinstance(event, DecodeError):
        return _dead(message, event.reason, event.kind, event.user_id, event.event_type)
    if message.key is not None and message.key != event.user_id.encode():
        # A message keyed by anything but its user_id may sit on another user's partition, and
        # its user's state on another worker: applying it would split the user's state.
        return _dead(
            message,
            f"key {message.key.decode('utf-8', 'replace')!r} does not match user_id {event.user_id!r}; "
            "every message must be keyed by its user_id",
            "key_mismatch",
            event.user_id,
            event.type,
        )
    before = load_state(event.user_id)
    applied = apply(before, event, policy)
    if applied.rejection is not None:
        step = _dead(message, applied.rejection, "rejected", event.user_id, event.type)
        step.state = applied.state
        return step
    step = Step(
        user_id=event.user_id,
        event_type=event.type,
        state=applied.state,
        outputs=[(EVENT_TYPE_TOPIC[o.type], encode(o)) for o in applied.outputs],
        engine_outputs=applied.outputs,
        duplicate=applied.duplicate,
    )
    if challenger is not None and not applied.duplicate:
        step.shadow_decisions = [
            o for o in apply(before, event, challenger).outputs if isinstance(o, Decision)
        ]
    return step


def _dead(message: Message, reason: str, kind: str, user_id: str | None, event_type: str | None) -> Step:
    record = dead_letter(
        message.value,
        reason,
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        # Replay has no Kafka key; the user_id (when readable) is what the key would have been.
        key=message.key if message.key is not None or user_id is None else user_id.encode(),
        received_at=datetime.fromtimestamp(message.timestamp, UTC) if message.timestamp else None,
    )
    return Step(
        user_id=user_id,
        event_type=event_type,
        state=None,
        outputs=[(DEAD_LETTER_TOPIC, encode(record))],
        dead_letter_kind=kind,
    )
