"""Least privilege as code: what each of creditstream's roles may do on Kafka, from the catalogue.

A lender's cluster allows nothing without an ACL. Each role gets only what it uses, and the list
is derived from the topic catalogue (schemas.topics), so a topic added there reaches every role
that reads or writes it without anyone remembering to grant it:

- producer: write credit.events (idempotently: WRITE on the topic is what Kafka 2.8 and later ask
  of an idempotent producer, KIP-679; the cluster's IDEMPOTENT_WRITE is granted too, for older
  brokers, and cannot be checked by a principal that may not describe the cluster);
- worker: read its inputs and its consumer group, write the outputs (and credit.events, where it
  forwards the schema-1 topics), read and write its own internal topics (the table's changelog,
  Faust's assignor topic), all of which start with its app id; create topics only when the
  deployment lets it (``worker_creates_topics``; otherwise an administrator creates them);
- decisions (the decision client, and the worker's POST /v1/decisions on its behalf): write
  credit.events, read credit.decisions;
- auditor: read every topic and the worker's internal ones, write nothing (dump, replay of a dump).

``creditstream acls`` prints these and, with --apply, creates them; ``streams.kafka.permissions``
checks at start that a role really has them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from schemas.topics import (
    ALL_TOPICS,
    DECISIONS,
    EVENTS,
    INPUT_TOPICS,
    LEGACY_INPUT_TOPICS,
    OUTPUT_TOPICS,
    SHADOW_DECISIONS,
)

__all__ = ["ROLES", "Grant", "Role", "grants_for", "internal_topics"]

Role = Literal["producer", "worker", "decisions", "auditor"]
ROLES: Final[tuple[Role, ...]] = ("producer", "worker", "decisions", "auditor")
ResourceKind = Literal["topic", "group", "cluster"]
Operation = Literal["READ", "WRITE", "CREATE", "DESCRIBE", "IDEMPOTENT_WRITE"]
CLUSTER_NAME: Final = "kafka-cluster"


@dataclass(frozen=True, order=True)
class Grant:
    """One ACL: ``principal`` may do ``operation`` on a resource (by its name, or every name that
    starts with it when ``prefixed``)."""

    kind: ResourceKind
    name: str
    operation: Operation
    prefixed: bool = False

    def describe(self) -> str:
        pattern = f"{self.name}*" if self.prefixed else self.name
        return f"{self.operation} {self.kind} {pattern}"


def internal_topics(app_id: str) -> tuple[str, ...]:
    """The worker's own topics that Faust creates: the users table's changelog and the assignor's
    leader topic. All start with ``app_id + '-'``, which the worker's grants cover as a prefix."""
    return (f"{app_id}-users-changelog", f"{app_id}-__assignor-__leader")


def grants_for(
    role: Role,
    *,
    topic_prefix: str = "",
    app_id: str = "creditstream",
    with_challenger: bool = False,
    worker_creates_topics: bool = True,
) -> list[Grant]:
    """The grants a role needs, sorted; topic names with ``topic_prefix`` as deployed."""

    def topics(names: Iterable[str], *operations: Operation) -> list[Grant]:
        return [Grant("topic", topic_prefix + name, op) for name in names for op in operations]

    inputs = [spec.name for spec in INPUT_TOPICS + LEGACY_INPUT_TOPICS]
    outputs = [spec.name for spec in OUTPUT_TOPICS] + ([SHADOW_DECISIONS.name] if with_challenger else [])
    grants: list[Grant]
    if role == "producer":
        grants = topics([EVENTS.name], "WRITE", "DESCRIBE")
        grants.append(Grant("cluster", CLUSTER_NAME, "IDEMPOTENT_WRITE"))
    elif role == "decisions":
        grants = topics([EVENTS.name], "WRITE", "DESCRIBE") + topics([DECISIONS.name], "READ", "DESCRIBE")
        grants.append(Grant("cluster", CLUSTER_NAME, "IDEMPOTENT_WRITE"))
    elif role == "auditor":
        everything = [spec.name for spec in ALL_TOPICS] + [SHADOW_DECISIONS.name]
        grants = topics(everything, "READ", "DESCRIBE")
        grants += [Grant("topic", f"{app_id}-", op, prefixed=True) for op in ("READ", "DESCRIBE")]
    elif role == "worker":
        grants = topics(inputs, "READ", "DESCRIBE") + topics([EVENTS.name], "WRITE")
        grants += topics(outputs, "WRITE", "DESCRIBE")
        # POST /v1/decisions for a user another worker owns waits for the decision on this topic.
        grants += topics([DECISIONS.name], "READ")
        if worker_creates_topics:
            grants += topics(inputs + outputs, "CREATE")
        # Its own topics (changelog, assignor): Faust creates them at start.
        grants += [
            Grant("topic", f"{app_id}-", op, prefixed=True) for op in ("READ", "WRITE", "DESCRIBE", "CREATE")
        ]
        grants += [Grant("group", app_id, op) for op in ("READ", "DESCRIBE")]
    else:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    return sorted(set(grants))
