"""Each role's ACLs come from the topic catalogue: a topic added there cannot be forgotten."""

from __future__ import annotations

import pytest

from schemas.topics import (
    ALL_TOPICS,
    DECISIONS,
    EVENTS,
    INPUT_TOPICS,
    LEGACY_INPUT_TOPICS,
    OUTPUT_TOPICS,
    SHADOW_DECISIONS,
)
from streams.kafka.acls import ROLES, Grant, grants_for
from streams.kafka.admin import deployed_topics
from streams.kafka.settings import Settings
from streams.tools.acls import AclsError, principals_of


def _topic_ops(role: str, **options: object) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for grant in grants_for(role, **options):  # type: ignore[arg-type]
        if grant.kind == "topic" and not grant.prefixed:
            found.setdefault(grant.name, set()).add(grant.operation)
    return found


def test_the_worker_reads_every_input_and_writes_every_output_of_the_catalogue() -> None:
    ops = _topic_ops("worker", topic_prefix="p.")
    for spec in INPUT_TOPICS + LEGACY_INPUT_TOPICS:
        assert {"READ", "DESCRIBE", "CREATE"} <= ops["p." + spec.name]
    for spec in OUTPUT_TOPICS:
        assert {"WRITE", "DESCRIBE", "CREATE"} <= ops["p." + spec.name]
    assert Grant("group", "creditstream", "READ") in grants_for("worker")
    assert Grant("topic", "creditstream-", "WRITE", prefixed=True) in grants_for("worker")  # changelog


def test_a_worker_that_does_not_create_topics_gets_no_create() -> None:
    ops = _topic_ops("worker", worker_creates_topics=False)
    assert not any("CREATE" in found for found in ops.values())


def test_the_producer_writes_only_credit_events_and_reads_nothing() -> None:
    assert _topic_ops("producer") == {EVENTS.name: {"WRITE", "DESCRIBE"}}


def test_the_decision_client_writes_events_and_reads_decisions() -> None:
    assert _topic_ops("decisions") == {
        EVENTS.name: {"WRITE", "DESCRIBE"},
        DECISIONS.name: {"READ", "DESCRIBE"},
    }


def test_the_auditor_reads_every_topic_and_writes_none() -> None:
    ops = _topic_ops("auditor")
    assert {spec.name for spec in ALL_TOPICS} <= set(ops)
    assert all(found == {"READ", "DESCRIBE"} for found in ops.values())


def test_principals_default_to_the_role_and_can_be_named() -> None:
    assert principals_of([], []) == {role: f"User:{role}" for role in ROLES}
    assert principals_of(["worker"], ["worker=User:svc-credit"]) == {"worker": "User:svc-credit"}
    with pytest.raises(AclsError, match="not one of"):
        principals_of(["nobody"], [])
    with pytest.raises(AclsError, match="ROLE=User:NAME"):
        principals_of([], ["worker=svc"])


def test_acls_create_topics_makes_the_topics_the_worker_would() -> None:
    """`acls --create-topics` and the worker share one list: prefix, retention, the challenger's."""
    settings = Settings.from_environment(
        {"CREDITSTREAM_TOPIC_PREFIX": "p.", "CREDITSTREAM_RECORD_RETENTION_DAYS": "10"}
    )
    specs = {spec.name: spec for spec in deployed_topics(settings, with_challenger=True)}
    assert set(specs) == {"p." + s.name for s in (*ALL_TOPICS, SHADOW_DECISIONS)}
    assert specs["p." + DECISIONS.name].retention_ms == 10 * 24 * 3600 * 1000
    assert specs["p." + LEGACY_INPUT_TOPICS[0].name].retention_ms == LEGACY_INPUT_TOPICS[0].retention_ms
