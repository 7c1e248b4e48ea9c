"""The one place that builds the Faust app and wires settings, topics, the table and metrics.

Agents (streams.worker.agents) and web pages (streams.worker.web) are installed onto the parts built here.
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import Any, Final

import faust
from prometheus_client import CollectorRegistry

from schemas.topics import EVENTS, LEGACY_INPUT_TOPICS, OUTPUT_TOPICS, SHADOW_DECISIONS
from streams.engine import ENGINE
from streams.kafka.gaps import GapReader
from streams.kafka.partitioning import RememberingPartitioner
from streams.kafka.settings import Settings, SettingsError
from streams.policy import Policy
from streams.worker.agents import install_agents
from streams.worker.delivery import deliver_inline
from streams.worker.fetch_wait import bound_fetch_wait
from streams.worker.live import LiveView
from streams.worker.memory import BudgetedRocksDBOptions, MemoryBudget
from streams.worker.metrics import DomainMetrics
from streams.worker.parts import CreditApp
from streams.worker.restore import bulk_restore
from streams.worker.state_cache import StateCache
from streams.worker.tracing import configure_tracing
from streams.worker.web import install_web

__all__ = ["CreditApp", "create_app", "faust_app", "tune_consumer"]

USERS_TABLE = "users"
log = logging.getLogger(__name__)


def create_app(settings: Settings, policy: Policy, challenger: Policy | None = None) -> CreditApp:
    """Build the app with its topics, table and metrics; install the agent and the web pages."""
    try:
        tracing = configure_tracing()
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
    app = faust_app(settings)
    registry = CollectorRegistry()
    metrics = DomainMetrics.create(registry)
    budget = MemoryBudget.split(settings.memory_mb, settings.partitions, settings.state_cache_users)

    def topic(name: str) -> Any:
        return app.topic(
            settings.topic(name), partitions=settings.partitions, key_serializer="raw", value_serializer="raw"
        )

    outputs = {spec.name: topic(spec.name) for spec in OUTPUT_TOPICS}
    if challenger is not None:
        outputs[SHADOW_DECISIONS.name] = topic(SHADOW_DECISIONS.name)
    parts = CreditApp(
        app=app,
        settings=settings,
        policy=policy,
        challenger=challenger,
        inputs=topic(EVENTS.name),
        legacy_inputs=app.topic(
            *(settings.topic(spec.name) for spec in LEGACY_INPUT_TOPICS),
            key_serializer="raw",
            value_serializer="raw",
        ),
        events_topic=topic(EVENTS.name),
        outputs=outputs,
        users=app.Table(
            USERS_TABLE,
            partitions=settings.partitions,
            key_type=bytes,  # Faust picks the table's serializers from these types: bytes means raw
            value_type=bytes,
            default=None,
            extra_topic_configs=CHANGELOG_TOPIC_CONFIGS,
        ),
        metrics=metrics,
        state_cache=StateCache(budget.state_cache_users),
        registry=registry,
        gap_reader=GapReader(settings.bootstrap_servers, settings.kafka_python_config()),
        tracing=tracing,
        live=LiveView(
            metrics,
            {
                "app_id": settings.app_id,
                "version": _version(),
                "policy_version": policy.version,
                "challenger_version": challenger.version if challenger else None,
                "engine": ENGINE,
            },
        ),
    )
    parts.metrics.build_info.labels(_version(), policy.version, ENGINE).set(1)
    budget_rocksdb(parts.users, budget)
    bulk_restore(parts.users, restored=parts.metrics.restored)
    tune_consumer(app)
    install_agents(parts)
    install_web(parts)
    return parts


def faust_app(settings: Settings) -> faust.App:
    """The Faust app with the worker's Kafka, store, producer and web settings, and no topics,
    tables or agents yet (the bench's Faust floor runs on the same one: streams.tools.bench.faust_floor)."""
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",")],
        broker_credentials=_credentials(settings),
        store="rocksdb://" if settings.store == "rocksdb" else "memory://",
        datadir=str(settings.state_dir / settings.app_id),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        key_serializer="raw",
        value_serializer="raw",
        producer_acks=-1,
        producer_linger=settings.producer_linger_ms / 1000,
        # aiokafka's default, 16 KiB, holds five states: a batch's changelog writes then waited,
        # send by send, for Kafka to take the full ones (CREDITSTREAM_PRODUCER_BATCH_BYTES).
        producer_max_batch_size=settings.producer_batch_bytes,
        producer_partitioner=RememberingPartitioner(),  # the default's partitions, hashed once per key
        web_enabled=True,
        # A crashed worker's partitions move (or, with static membership, come back) in seconds,
        # not after a 60 s session expiry.
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_seconds / 3),
        consumer_group_instance_id=settings.instance_id or None,
        broker_commit_interval=settings.commit_interval_seconds,
        table_standby_replicas=settings.standby_replicas,
    )


# The users table's changelog, as Faust creates it (compacted): settings that let Kafka's log
# cleaner keep about one record a user, so that a restore reads users, not history. Without them
# the changelog's active segment never rolled (Kafka's default: 7 days or 1 GB), and the cleaner,
# which never touches the active segment, never ran: a cold restore of 400,000 users read 2.3M
# records (issue 38).
CHANGELOG_TOPIC_CONFIGS: Final = {
    "cleanup.policy": "compact",
    "segment.ms": str(10 * 60_000),  # the active segment rolls every 10 minutes...
    "segment.bytes": str(64 * 1024 * 1024),  # ...or at 64 MiB, whichever first: then it can be cleaned
    "min.cleanable.dirty.ratio": "0.1",  # clean once a tenth of the log is superseded (default: half)
    "max.compaction.lag.ms": str(30 * 60_000),  # and any record within 30 minutes, however little is dirty
    "min.compaction.lag.ms": "0",
}


def budget_rocksdb(users: Any, budget: MemoryBudget) -> None:
    """Give the users table's RocksDB store the budget's options (one block cache and one
    write-buffer manager for every partition's database); the memory store needs none."""
    store = users.data
    if getattr(store, "rocksdb_options", None) is not None and getattr(store, "use_rocksdict", False):
        store.rocksdb_options = BudgetedRocksDBOptions(budget)


def tune_consumer(app: faust.App) -> None:
    """Faust's consumer as the worker runs it: records handed over without four tasks each
    (streams.worker.delivery), and fetches that wait 100 ms at most (streams.worker.fetch_wait)."""
    if not deliver_inline(app.consumer):
        log.warning("faust's consumer lacks what streams.worker.delivery needs: delivering as faust does")
    if not bound_fetch_wait(app.consumer):
        log.warning("faust's consumer lacks what streams.worker.fetch_wait needs: fetches wait as faust sets")


def _version() -> str:
    try:
        return importlib.metadata.version("creditstream")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _credentials(settings: Settings) -> Any:
    context = settings.ssl_context()
    if settings.security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
