"""One message through the engine: check, decode, apply, encode. Shared by the live worker and replay.

Both shells call ``process`` and publish the encoded bytes it returns. The worker reads one ordered
topic (credit.events), so replaying a dump of that topic (`creditstream dump credit.events`, which
keeps each record's partition, offset, timestamp and key) gives the same outputs byte for byte,
dead letters included. Bad input becomes a dead-letter record here, never an exception.

Checks on the Kafka envelope, before the engine sees anything (each a dead letter of its kind):
- the key must be present and be the event's user_id (``key_missing``, ``key_mismatch``);
- the record must sit on the partition Kafka's default murmur2 partitioner gives its key
  (``wrong_partition``): a user's state lives on that partition only;
- the event's date must be plausible: inside the policy's range, and not far after the record's
  broker timestamp (``implausible_date``).
A message at or below the offset the user's state has already applied is a redelivery: it changes
nothing and sends nothing (its outputs were sent before that state was stored).
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Final, Literal, NamedTuple

from schemas.codec import DecodeError, dead_letter, decode_event, encode
from schemas.events import Event
from schemas.outputs import Decision
from schemas.topics import DEAD_LETTER, EVENT_TYPE_TOPIC
from streams.engine import StateDecodeError, UserState, apply
from streams.engine.apply import EngineOutput
from streams.kafka.partitioning import key_partition
from streams.policy import Policy

__all__ = [
    "DEAD_LETTER_KINDS",
    "DeadLetterKind",
    "Message",
    "Step",
    "expected_partition",
    "process",
    "refuse",
]

DeadLetterKind = Literal[
    "empty",
    "not_utf8",
    "not_json",
    "not_object",
    "invalid_event",
    "key_missing",
    "key_mismatch",
    "wrong_partition",
    "implausible_date",
    "rejected",
    "state_unreadable",
    "internal_error",
]
DEAD_LETTER_KINDS: Final[tuple[DeadLetterKind, ...]] = typing.get_args(DeadLetterKind)
"""Every kind of dead letter: a closed set, so it is safe as a metrics label."""

log = logging.getLogger(__name__)


class Message(NamedTuple):
    """A raw input message and where it came from.

    Live, every field comes from the Kafka record. Replay of a plain event file has no envelope:
    topic "replay", partition None, offset = the line number, no key and no timestamp, and the
    envelope checks that need them are skipped. A NamedTuple, immutable: one is built per record,
    and a frozen dataclass took 1 us to build (a field at a time through object.__setattr__).
    """

    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None  # the Kafka record timestamp, epoch seconds
    partitions: int | None = None  # the topic's partition count, for the partitioner check
    # The record's headers, for the shell only (trace context onto the outputs); the engine never
    # reads them, so replay, which has none, decides alike.
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(slots=True)
class Step:
    """The result of one message.

    ``state`` is the user's new state, to be stored (None when there is nothing to store).
    ``outputs`` are (topic, encoded record) pairs in the engine's documented order; a dead letter is
    among them when the message could not be applied, and ``dead_letter_kind`` says which kind.
    ``redelivered``: the user's state has already applied this very record (by offset).
    """

    user_id: str | None
    event_type: str | None
    state: UserState | None
    outputs: list[tuple[str, bytes]] = field(default_factory=list)
    engine_outputs: list[EngineOutput] = field(default_factory=list)
    dead_letter_kind: DeadLetterKind | None = None
    duplicate: bool = False
    redelivered: bool = False
    shadow_decisions: list[Decision] = field(default_factory=list)


def expected_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java client, kafka-python) gives a key."""
    return key_partition(key, partitions)


def process(
    message: Message,
    load_state: Callable[[str], UserState | None],
    policy: Policy,
    challenger: Policy | None = None,
    *,
    owned: bool = False,
) -> Step:
    """Check and decode the message, apply it to its user's state, and encode what comes out.

    With a ``challenger`` policy (shadow mode), a request is also decided by the challenger on the
    same state as it stood before the request; that decision goes to ``shadow_decisions`` and its
    state is thrown away, so the challenger never changes anything.

    ``owned``: the loaded state is the caller's to give up (replay keeps only the new one), so the
    engine changes it in place instead of copying it (see ``streams.engine.apply``). The one cost:
    should the engine raise (a bug, dead-lettered below as "internal_error"), the state may be left
    partly changed, where the worker's copy leaves it whole, and replay may differ from live after
    that line.

    Never raises: a message that breaks anything, even a bug, becomes a dead letter that says what
    happened (kind "internal_error"), so one message can never stop the stream or be lost.
    """
    try:
        return _process(message, load_state, policy, challenger, owned)
    except StateDecodeError as exc:
        return refuse(message, f"the user's stored state cannot be read: {exc}", "state_unreadable")
    except Exception as exc:
        # The message may hold personal data: above DEBUG the log names the position and the
        # exception's type only; its text goes to the dead letter, the traceback to DEBUG.
        log.error(
            "internal error on %s[%s]@%s: %s (see the dead letter)",
            message.topic,
            message.partition,
            message.offset,
            type(exc).__name__,
        )
        log.debug("internal error traceback", exc_info=True)
        return refuse(message, f"internal error: {type(exc).__name__}: {exc}", "internal_error")


def _process(
    message: Message,
    load_state: Callable[[str], UserState | None],
    policy: Policy,
    challenger: Policy | None,
    owned: bool,
) -> Step:
    event = decode_event(message.value)
    if isinstance(event, DecodeError):
        return refuse(message, event.reason, event.kind, event.user_id, event.event_type)
    refusal = _envelope_problem(message, event, policy)
    if refusal is not None:
        reason, kind = refusal
        return refuse(message, reason, kind, event.user_id, event.type)
    before = load_state(event.user_id)
    # A Kafka record's offset (none for a plain replay line): at or below the applied one, a redelivery.
    offset = message.offset if message.partition is not None else None
    if offset is not None and before is not None and offset <= before.input_offset:
        return Step(event.user_id, event.type, None, duplicate=True, redelivered=True)
    # A challenger decides on the state as it was before the request: it cannot be changed in place.
    applied = apply(before, event, policy, owned=owned and challenger is None)
    if offset is not None:
        applied.state.input_offset = offset
    if applied.rejection is not None:
        step = refuse(message, applied.rejection, "rejected", event.user_id, event.type)
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


def _envelope_problem(message: Message, event: Event, policy: Policy) -> tuple[str, DeadLetterKind] | None:
    """Why this record must not reach the engine, or None."""
    user_key = event.user_id.encode()
    if message.partition is not None:  # a Kafka record (replay of a plain file has no envelope)
        if message.key is None:
            return (
                f"the message has no key; every message must be keyed by its user_id ({event.user_id!r}), "
                "or it lands on a random partition, away from the user's state",
                "key_missing",
            )
        if message.key != user_key:
            shown = message.key[:64].decode("utf-8", "replace")
            return (
                f"key {shown!r} does not match user_id {event.user_id!r}; "
                "every message must be keyed by its user_id",
                "key_mismatch",
            )
        if message.partitions:
            expected = expected_partition(user_key, message.partitions)
            if expected != message.partition:
                return (
                    f"key {event.user_id!r} belongs on partition {expected} of {message.partitions} by "
                    f"Kafka's default murmur2 partitioner, but the message is on partition "
                    f"{message.partition}; producers built on librdkafka must set "
                    "partitioner=murmur2_random (see README, Producers)",
                    "wrong_partition",
                )
    rules = policy.rules
    happened = event.occurred_at
    day = happened.astimezone(UTC).date()
    if not rules.earliest_plausible_date <= day < rules.latest_plausible_date:
        return (
            f"occurred_at: {happened.isoformat()} is outside the plausible range "
            f"{rules.earliest_plausible_date} to {_day_before(rules.latest_plausible_date)}",
            "implausible_date",
        )
    if message.timestamp:
        ahead = happened.timestamp() - message.timestamp
        if ahead > rules.max_minutes_ahead_of_record * 60:
            recorded = datetime.fromtimestamp(message.timestamp, UTC).isoformat()
            return (
                f"occurred_at: {happened.isoformat()} is {ahead / 3600:.1f} hours after the record's "
                f"Kafka timestamp {recorded}; an event may not be dated more than "
                f"{rules.max_minutes_ahead_of_record} minutes ahead of it",
                "implausible_date",
            )
    return None


def _day_before(day: date) -> date:
    return date.fromordinal(day.toordinal() - 1)


def refuse(
    message: Message,
    reason: str,
    kind: DeadLetterKind,
    user_id: str | None = None,
    event_type: str | None = None,
) -> Step:
    """A dead letter for a message that cannot be applied, with the reason and its kind."""
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
        outputs=[(DEAD_LETTER.name, encode(record))],
        dead_letter_kind=kind,
    )
