"""The topic catalogue: every topic creditstream reads or writes, in one place.

Every topic is keyed by ``user_id`` and all of them have the same partition count, so one user's
events and outputs live on the same partition number everywhere (co-partitioning): one worker owns a
user's state and sees that user's events in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from schemas.events import INPUT_EVENT_TYPES

__all__ = [
    "ACCOUNTS",
    "ALL_TOPICS",
    "APPLICATIONS",
    "DEAD_LETTER",
    "DECISIONS",
    "EVENTS",
    "EVENT_TYPE_TOPIC",
    "INPUT_TOPICS",
    "LEGACY_INPUT_TOPICS",
    "LIMIT_CHANGES",
    "OFFERS",
    "OUTPUT_TOPICS",
    "REPAYMENTS",
    "SCORE_CHANGES",
    "SHADOW_DECISIONS",
    "TRANSACTIONS",
    "TopicSpec",
    "topic_for_event_type",
]

DAY_MS = 24 * 60 * 60 * 1000

Direction = Literal["input", "output"]


@dataclass(frozen=True)
class TopicSpec:
    """What a topic carries and how it is created."""

    name: str
    direction: Direction
    event_types: tuple[str, ...]
    description: str
    retention_ms: int
    cleanup_policy: Literal["delete", "compact"] = "delete"
    key: str = "user_id"
    extra_config: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, str]:
        """Topic-level broker configuration for creation."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            **self.extra_config,
        }


ACCOUNTS = TopicSpec(
    "credit.accounts",
    "input",
    ("account_opened", "account_status"),
    "Deprecated (schema 1; forwarded to credit.events). "
    "Account lifecycle: opening (segment, income, invitations) and status changes.",
    retention_ms=30 * DAY_MS,
)

TRANSACTIONS = TopicSpec(
    "credit.transactions",
    "input",
    ("purchase", "refund", "sale"),
    "Deprecated (schema 1; forwarded to credit.events). "
    "Checkout purchases (a credit purchase is a bnpl authorisation request), refunds, merchant sales.",
    retention_ms=30 * DAY_MS,
)

REPAYMENTS = TopicSpec(
    "credit.repayments",
    "input",
    ("repayment", "delinquency"),
    "Deprecated (schema 1; forwarded to credit.events). "
    "Repayments with their due date, and delinquency reports from the servicing system.",
    retention_ms=30 * DAY_MS,
)

APPLICATIONS = TopicSpec(
    "credit.applications",
    "input",
    ("application",),
    "Deprecated (schema 1; forwarded to credit.events). "
    "Loan applications (cash_loan, installment_loan, business_loan); each gets one decision.",
    retention_ms=30 * DAY_MS,
)

EVENTS = TopicSpec(
    "credit.events",
    "input",
    INPUT_EVENT_TYPES,
    "Every input event of every type, keyed by user_id: one ordered log per user, so the worker "
    "applies a user's events in the order they were produced, and replaying this topic reproduces "
    "the live outputs.",
    retention_ms=30 * DAY_MS,
    # The broker stamps each record: an event dated far ahead of its record is refused, and a
    # producer's clock cannot make it look plausible.
    extra_config={"message.timestamp.type": "LogAppendTime"},
)

INPUT_TOPICS: tuple[TopicSpec, ...] = (EVENTS,)
"""What the engine reads: one topic, so each user's events have one order."""

LEGACY_INPUT_TOPICS: tuple[TopicSpec, ...] = (ACCOUNTS, TRANSACTIONS, REPAYMENTS, APPLICATIONS)
"""Schema-1 input topics, still accepted: the worker forwards each message, unchanged and under
its key, to credit.events. Kafka orders each of them, but not their interleaving, so producers
move to credit.events (see README, Ordering)."""

DECISIONS = TopicSpec(
    "credit.decisions",
    "output",
    ("decision",),
    "One decision per application and per credit purchase, with reason codes.",
    retention_ms=30 * DAY_MS,
)

SCORE_CHANGES = TopicSpec(
    "credit.score-changes",
    "output",
    ("score_changed",),
    "Every change of a user's score, with its top factors.",
    retention_ms=30 * DAY_MS,
)

LIMIT_CHANGES = TopicSpec(
    "credit.limit-changes",
    "output",
    ("limit_changed",),
    "Every change of a user's per-product limit, with the reason.",
    retention_ms=30 * DAY_MS,
)

OFFERS = TopicSpec(
    "credit.offers",
    "output",
    ("offer_changed",),
    "Each user's offers for every product (offered, not_offered or suspended, with reasons), whole in "
    "every record: compacted, so the latest record per user is that user's current offers.",
    retention_ms=-1,
    cleanup_policy="compact",
)

DEAD_LETTER = TopicSpec(
    "credit.dead-letter",
    "output",
    ("dead_letter",),
    "Messages that could not be applied, with the source position and a readable reason.",
    retention_ms=90 * DAY_MS,
)

OUTPUT_TOPICS: tuple[TopicSpec, ...] = (
    DECISIONS,
    SCORE_CHANGES,
    LIMIT_CHANGES,
    OFFERS,
    DEAD_LETTER,
)

ALL_TOPICS: tuple[TopicSpec, ...] = INPUT_TOPICS + LEGACY_INPUT_TOPICS + OUTPUT_TOPICS

SHADOW_DECISIONS = TopicSpec(
    "credit.decisions.shadow",
    "output",
    ("decision",),
    "Shadow mode: the challenger policy's decisions on live traffic; they never change state.",
    retention_ms=30 * DAY_MS,
)
"""Created only when the worker runs with a challenger policy."""

EVENT_TYPE_TOPIC: dict[str, str] = {
    event_type: spec.name for spec in INPUT_TOPICS + OUTPUT_TOPICS for event_type in spec.event_types
}
"""Where each event type is sent: every input type to credit.events, each output to its topic."""


def topic_for_event_type(event_type: str) -> str:
    """The topic an event of this ``type`` belongs on; KeyError names the unknown type."""
    try:
        return EVENT_TYPE_TOPIC[event_type]
    except KeyError:
        raise KeyError(f"unknown event type {event_type!r}; known: {sorted(EVENT_TYPE_TOPIC)}") from None
