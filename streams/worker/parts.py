"""The parts of a running worker that its agent and web pages share (built by streams.worker.app)."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import faust
from faust.streams import _current_event  # the context faust's table store reads the partition from
from prometheus_client import CollectorRegistry
from rocksdict import WriteBatch

from streams.kafka.gaps import GapReader
from streams.kafka.settings import Settings
from streams.policy import Policy
from streams.worker.live import LiveView
from streams.worker.metrics import DomainMetrics
from streams.worker.state_cache import StateCache
from streams.worker.tracing import Tracing

__all__ = ["CreditApp", "as_current_event"]


@contextlib.contextmanager
def as_current_event(event: Any) -> Iterator[None]:
    """Make ``event`` faust's current event: the table reads and writes its partition's store, and
    its changelog record goes to that partition. (One agent iteration sees a whole batch, so the
    current event must be set per record.)"""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


@dataclass
class CreditApp:
    """The Faust app and what its agent and pages use."""

    app: faust.App
    settings: Settings
    policy: Policy
    challenger: Policy | None
    inputs: Any  # faust topic: credit.events, the one ordered input
    legacy_inputs: Any  # faust topic over the schema-1 input topics, forwarded to credit.events
    events_topic: Any  # faust topic to send forwarded records to (credit.events)
    outputs: dict[str, Any]  # catalogue name -> faust topic
    users: Any  # faust table: user_id bytes -> UserState bytes
    metrics: DomainMetrics
    registry: CollectorRegistry
    gap_reader: GapReader  # reads records the consumer skipped
    tracing: Tracing  # trace context onto outputs, a span per event when OpenTelemetry is configured
    live: LiveView  # what the live page (GET /, /live.json) shows
    last_offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # for the lag gauge
    next_offsets: dict[int, int] = field(default_factory=dict)  # input partition -> next to apply
    applied_through: dict[int, int] = field(default_factory=dict)  # partition -> next, states written
    kafka_problem: str | None = None  # why Kafka is unreachable, from the probe; None when it answers
    # Requests posted to /v1/decisions that this worker applies itself: request event id -> the
    # future the agent resolves with the decision once it is in Kafka.
    pending_decisions: dict[str, Any] = field(default_factory=dict)
    # Decoded states of recently applied users (exactly what the table holds for them).
    state_cache: StateCache = field(default_factory=lambda: StateCache(0))
    # The first changelog record Kafka refused, if any: the worker then commits nothing more.
    changelog_failure: BaseException | None = None
    decision_client: Any = None  # schemas.decisions.DecisionClient for POST /v1/decisions, made on first use

    @cached_property
    def output_topic_names(self) -> dict[str, str]:
        """Catalogue name -> the topic's name on the cluster (with the prefix), per output."""
        return {name: self.settings.topic(name) for name in self.outputs}

    @cached_property
    def changelog_topic_name(self) -> str:
        """The users table's changelog topic on the cluster."""
        return str(self.users.changelog_topic.get_topic_name())

    @cached_property
    def _rocksdb_store(self) -> Any | None:
        """The users table's store when it is faust's RocksDB store (on rocksdict, the driver this
        project installs), whose partitions' databases the reads and writes below use directly;
        None for any other store (the memory one). Looked up once: faust keeps one store a table."""
        store: Any = self.users.data
        if hasattr(store, "_db_for_partition") and hasattr(store, "_key_index"):
            return store
        return None

    def stored_state(self, partition: int, key: bytes, event: Any) -> bytes | None:
        """The users table's stored bytes for ``key`` of ``partition``, or None.

        faust's RocksDB store is read straight from the partition's database: its own ``get``
        encodes the key through the serializer registry, finds the partition through faust's
        current event, records the key in an LRU index behind a lock, and raises KeyError for a
        user it does not hold. With 300,000 users, where nearly every read misses the state
        cache, a read cost 30 us that way and 16 us this way (with the 10-bit bloom filter of
        ``streams.worker.memory``). Any other store (the memory one) is read through faust, with
        ``event`` as faust's current event so that it finds the partition."""
        rocksdb = self._rocksdb_store
        if rocksdb is None:
            with as_current_event(event):
                return self.users.data.get(key)  # type: ignore[no-any-return]
        return rocksdb._db_for_partition(partition).get(key)  # type: ignore[no-any-return]

    def store_rows(self, rows: Sequence[tuple[int, bytes, bytes]]) -> None:
        """Put a batch's rows (partition, key, value) into the users table's store, as faust's
        ``Table.__setitem__`` does but without its per-row path: faust's RocksDB store gets one
        RocksDB write batch per partition (a row cost 20 us through faust's ``_set`` and one
        RocksDB write each); any other store (the memory one) takes them row by row.

        The store is left to know its changelog position: see ``persist_changelog_offset``."""
        rocksdb = self._rocksdb_store
        if rocksdb is None:
            store = self.users.data
            for _, key, value in rows:
                store[key] = value
            return
        key_index = rocksdb._key_index
        batches: dict[int, WriteBatch] = {}
        for partition, key, value in rows:
            key_index[key] = partition  # where faust's store looks for the key first
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = WriteBatch(raw_mode=True)
            batch.put(key, value)
        for partition, batch in batches.items():
            rocksdb._db_for_partition(partition).write(batch)

    async def send_changelog(self, partition: int, key: bytes, value: bytes) -> asyncio.Future[Any]:
        """Send one row of the users table to its changelog, on the row's partition, as faust's
        table does, without its per-key message objects and send buffer (measured at about 16% of
        the worker); returns the record's delivery future."""
        producer: Any = self.app.producer
        delivery: asyncio.Future[Any] = await producer.send(
            self.changelog_topic_name, key, value, partition, None, None
        )
        delivery.add_done_callback(self._note_changelog_failure)
        return delivery

    def _note_changelog_failure(self, delivery: asyncio.Future[Any]) -> None:
        if self.changelog_failure is None and not delivery.cancelled() and delivery.exception() is not None:
            self.changelog_failure = delivery.exception()

    def persist_changelog_offset(self, delivery: asyncio.Future[Any]) -> None:
        """Once a changelog record is in Kafka, record its offset in the store, as faust does for
        each record it sends: recovery and standbys read the changelog on from there."""
        if delivery.cancelled() or delivery.exception() is not None:
            return  # noted as changelog_failure: commit_applied commits nothing past it
        written = delivery.result()
        self.users.data.set_persisted_offset(written.topic_partition, written.offset)

    async def send_output(
        self, name: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[Any]:
        """Send one output record (catalogue topic ``name``) straight to the Kafka producer, which
        cost half of what faust's topic layer did per record; returns its delivery future. The
        agent's flush waits for these as for every other send."""
        producer: Any = self.app.producer
        delivery: asyncio.Future[Any] = await producer.send(
            self.output_topic_names[name], key, value, None, None, headers or None
        )
        return delivery
