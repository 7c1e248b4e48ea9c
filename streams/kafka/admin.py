"""Create creditstream's topics from the catalogue and check that they stay co-partitioned."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.topics import ALL_TOPICS, LEGACY_INPUT_TOPICS, SHADOW_DECISIONS, TopicSpec
from streams.kafka.settings import Settings

__all__ = [
    "CoPartitioningError",
    "MissingTopicsError",
    "TopicSetupTimeoutError",
    "broker_log_dirs",
    "delete_topics_starting_with",
    "deployed_topics",
    "ensure_deployed_topics",
    "ensure_topics",
    "partition_counts",
]

log = logging.getLogger(__name__)
BOOTSTRAP_TIMEOUT_SECONDS = 10.0


class CoPartitioningError(RuntimeError):
    """An existing topic has a partition count that breaks co-partitioning by user_id."""


class MissingTopicsError(RuntimeError):
    """Catalogue topics are missing where the worker may not create them."""


class TopicSetupTimeoutError(RuntimeError):
    """Created topics did not show their partitions in the cluster's metadata in time."""


def ensure_topics(
    bootstrap_servers: str,
    partitions: int,
    *,
    replication_factor: int = 1,
    topics: Iterable[TopicSpec] = ALL_TOPICS,
    client_config: Mapping[str, Any] | None = None,
    timeout_s: float = 30.0,
    create: bool = True,
) -> list[str]:
    """Create the missing topics, then check every topic's partition count; return the names created.

    Raises CoPartitioningError naming every topic whose partition count differs from ``partitions``:
    a user's events would then land on different partition numbers on different topics, and one
    worker would no longer own all of a user's state. The check runs after creation, so a topic that
    another process created at the same moment is checked too.
    """
    specs = list(topics)
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="creditstream-admin",
        # No broker at start should be one clear line soon, not after kafka-python's 30 s.
        bootstrap_timeout_ms=int(BOOTSTRAP_TIMEOUT_SECONDS * 1000),
        **dict(client_config or {}),
    )
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing and not create:
            raise MissingTopicsError(
                f"topics {', '.join(s.name for s in missing)} do not exist, and this worker does not "
                "create topics (CREDITSTREAM_WORKER_CREATES_TOPICS=false): an administrator creates "
                "them (creditstream topics, as a principal allowed to)"
            )
        for spec in missing:
            # Already existing: listed late, or created by another process meanwhile.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [NewTopic(spec.name, partitions, replication_factor, topic_configs=spec.config())]
                )
        if missing:
            log.info("created topics %s", [s.name for s in missing])
        counts = wait_for_partition_counts(admin, [s.name for s in specs], timeout_s)
        wrong = [f"{name} has {count} partitions" for name, count in counts.items() if count != partitions]
        if wrong:
            raise CoPartitioningError(
                f"topics are not co-partitioned with CREDITSTREAM_PARTITIONS={partitions}: "
                + "; ".join(wrong)
                + ". Every creditstream topic must have the same partition count: set "
                "CREDITSTREAM_PARTITIONS to match, or recreate the topics."
            )
        return [s.name for s in missing]
    finally:
        admin.close()


def deployed_topics(settings: Settings, *, with_challenger: bool) -> list[TopicSpec]:
    """The catalogue's topics as this deployment creates them: named with its prefix, and the
    records a lender keeps (the input log, decisions, changes, dead letters) kept for
    CREDITSTREAM_RECORD_RETENTION_DAYS; the schema-1 topics only until forwarded; a compacted topic
    (credit.offers) keeps each user's latest record for good."""
    kept = settings.record_retention_days * 24 * 60 * 60 * 1000
    specs = [
        dataclasses.replace(spec, retention_ms=kept)
        if spec not in LEGACY_INPUT_TOPICS and spec.cleanup_policy == "delete"
        else spec
        for spec in ALL_TOPICS
    ] + ([SHADOW_DECISIONS] if with_challenger else [])
    return [dataclasses.replace(spec, name=settings.topic(spec.name)) for spec in specs]


def ensure_deployed_topics(settings: Settings, *, with_challenger: bool, create: bool = True) -> list[str]:
    """ensure_topics for this deployment's topics (the worker at start, `acls --create-topics`)."""
    return ensure_topics(
        settings.bootstrap_servers,
        settings.partitions,
        replication_factor=settings.replication_factor,
        topics=deployed_topics(settings, with_challenger=with_challenger),
        client_config=settings.kafka_python_config(),
        create=create,
    )


def partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition count by topic name (kafka-python 3 calls the name field ``name``, 2.x ``topic``)."""
    if not names:
        return {}
    return {d.get("name") or d["topic"]: len(d["partitions"]) for d in admin.describe_topics(names)}


def wait_for_partition_counts(admin: KafkaAdminClient, names: list[str], timeout_s: float) -> dict[str, int]:
    """Partition counts of topics that were just created: metadata can lag creation briefly."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            counts = partition_counts(admin, names)
            if all(counts.get(name, 0) > 0 for name in names):
                return counts
            problem = f"topics without partitions yet: {[n for n in names if not counts.get(n)]}"
        except KafkaError as exc:
            problem = str(exc)
        if time.monotonic() > deadline:
            raise TopicSetupTimeoutError(f"topic metadata did not settle within {timeout_s:.0f}s: {problem}")
        time.sleep(0.2)


def delete_topics_starting_with(
    bootstrap_servers: str, *prefixes: str, client_config: Mapping[str, Any] | None = None
) -> list[str]:
    """Delete every topic whose name starts with one of ``prefixes`` (a benchmark's own); return
    their names.

    A benchmark writes hundreds of megabytes into a dozen topics. Left behind, they piled up on the
    development broker (15,754 partitions, 18 GB), and that broker then held fetches for seconds.
    """
    if not prefixes or not all(prefixes):
        raise ValueError("refusing to delete topics with an empty prefix: that would be every topic")
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="creditstream-admin", **dict(client_config or {})
    )
    try:
        names = sorted(t for t in admin.list_topics() if t.startswith(prefixes))
        if names:
            admin.delete_topics(names)
        return names
    finally:
        admin.close()


def broker_log_dirs(
    bootstrap_servers: str, client_config: Mapping[str, Any] | None = None
) -> dict[str, list[str]]:
    """Each broker's ``log.dirs``, by broker id: where its data lives says what its disk costs."""
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="creditstream-admin", **dict(client_config or {})
    )
    try:
        ids = [str(b["broker_id"]) for b in admin.describe_cluster()["brokers"]]
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, i, configs=["log.dirs"]) for i in ids],
            config_filter="all",
        )
        found: dict[str, list[str]] = {}
        for broker, configs in described.get("broker", {}).items():
            value = configs.get("log.dirs", {}).get("value") or ""
            found[broker] = [d for d in value.split(",") if d]
        return found
    finally:
        admin.close()
