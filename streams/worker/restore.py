"""Restore a newly assigned partition of the users table in bulk, before faust's recovery starts.

faust's recovery hands every changelog record through its consumer, one event object, one queue
hop and a handful of awaits each, and writes them to RocksDB a thousand at a time: about 20,000
records a second on this machine class, so a cold restore (a replaced node, an empty disk) of
100,000 users took 50-60 s and grew with every write ever made (issue 38).

``bulk_restore`` gives the users table's RocksDB store an ``on_rebalance`` that, once faust has
opened the databases of the newly assigned partitions, reads each partition's changelog
from the store's persisted offset to the end offset Kafka gives at that moment, with a consumer of
its own (no group, the worker's credentials), and writes each fetched batch with one RocksDB write
batch that also carries the new persisted offset. A crash half-way leaves a database whose
contents and offset agree, so the next start continues from there. faust's recovery then starts
from that offset as it always does and applies whatever was written after the end offset read here
(by a previous owner still flushing), so nothing is skipped and nothing is applied twice: a
changelog record is a key's whole value, written whole.

Standby partitions are restored the same way: a worker that joins with an empty disk then holds
its standbys whole before it says it is ready, so the failover it is there for does not wait for
faust's slow path; and a standby promoted to active reads only the tail it had not seen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import rocksdict
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

__all__ = ["RestoreReport", "bulk_restore", "restore_partitions"]

log = logging.getLogger(__name__)

FETCH_MAX_BYTES: Final = 64 * 1024 * 1024  # one fetch may bring several partitions' worth at once
PARTITION_FETCH_BYTES: Final = 16 * 1024 * 1024


def _no_wal() -> rocksdict.WriteOptions:
    options = rocksdict.WriteOptions()
    options.disable_wal = True  # type: ignore[method-assign,assignment]  # a property; the stub says method
    return options


# A restore's writes skip RocksDB's write-ahead log (a third of their cost): the changelog is the
# log. A crash before the partition's closing flush loses its memtables, data and offset alike
# (memtables flush in order, so what is on disk is always a prefix of the writes), and the next
# start restores from the older offset. Nothing writes to a partition's database with the log
# until its restore has ended and flushed.
_WITHOUT_WAL: Final = _no_wal()
FETCH_WAIT_MS: Final = 200


@dataclass
class RestoreReport:
    """What a bulk restore read: records per partition and seconds (logged, and in the metrics)."""

    records: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.records.values())


async def restore_partitions(
    store: Any, changelog: str, partitions: Iterable[int], consumer: Callable[[], AIOKafkaConsumer]
) -> RestoreReport:
    """Bring each partition's database up to the changelog's current end offset."""
    report = RestoreReport()
    began = time.monotonic()
    wanted = sorted(set(partitions))
    if not wanted:
        return report
    reader = consumer()
    await reader.start()
    try:
        tps = [TopicPartition(changelog, p) for p in wanted]
        reader.assign(tps)
        ends = await reader.end_offsets(tps)
        pending: dict[TopicPartition, int] = {}
        for tp in tps:
            persisted = store.persisted_offset(tp)
            start = 0 if persisted is None else persisted + 1
            if start < ends[tp]:
                reader.seek(tp, start)
                pending[tp] = ends[tp]
                report.records[tp.partition] = 0
            else:
                reader.pause(tp)
        while pending:
            fetched = await reader.getmany(*pending, timeout_ms=FETCH_WAIT_MS)
            for tp, records in fetched.items():
                end = pending.get(tp)
                if end is None:
                    continue
                batch, count = _batch(store, records, end)
                if count:
                    # Written here, on the loop: rocksdict holds the GIL while RocksDB writes
                    # (measured), so a thread would overlap nothing.
                    store._db_for_partition(tp.partition).write(batch, _WITHOUT_WAL)
                    report.records[tp.partition] += count
            for tp in list(pending):
                if await reader.position(tp) >= pending[tp]:
                    reader.pause(tp)
                    del pending[tp]
                    # Durable before anyone writes to it with the write-ahead log again.
                    store._db_for_partition(tp.partition).flush(True)
    finally:
        await reader.stop()
    report.seconds = time.monotonic() - began
    return report


def _batch(store: Any, records: list[Any], end: int) -> tuple[rocksdict.WriteBatch, int]:
    """One RocksDB write batch: the records below ``end`` and the persisted offset after them."""
    batch = rocksdict.WriteBatch(raw_mode=True)
    last = -1
    count = 0
    for record in records:
        if record.offset >= end:
            break
        if record.value is None:
            batch.delete(record.key)
        else:
            batch.put(record.key, record.value)
        last = record.offset
        count += 1
    if count:
        batch.put(store.offset_key, str(last).encode())
    return batch, count


def bulk_restore(table: Any, restored: Callable[[RestoreReport], None]) -> bool:
    """Install the bulk restore on the table's RocksDB store, telling ``restored`` what each restore
    read; False (nothing changed) for a store without rocksdict (the memory store, or a faust
    without the parts this relies on)."""
    store = table.data
    app = table.app
    original = getattr(store, "on_rebalance", None)
    if (
        original is None
        or not getattr(store, "use_rocksdict", False)
        or not hasattr(store, "offset_key")
        or not hasattr(store, "_db_for_partition")
    ):
        return False

    def consumer() -> AIOKafkaConsumer:
        conf = app.conf
        return AIOKafkaConsumer(
            bootstrap_servers=[f"{url.host}:{url.port or 9092}" for url in conf.broker],
            client_id=f"{conf.broker_client_id}-restore",
            group_id=None,
            enable_auto_commit=False,
            fetch_max_bytes=FETCH_MAX_BYTES,
            max_partition_fetch_bytes=PARTITION_FETCH_BYTES,
            fetch_max_wait_ms=FETCH_WAIT_MS,
            request_timeout_ms=int(conf.broker_request_timeout * 1000),
            **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
        )

    async def on_rebalance(assigned: Any, revoked: Any, newly_assigned: Any, generation_id: int = 0) -> None:
        await original(assigned, revoked, newly_assigned, generation_id)
        changelog = table.changelog_topic.get_topic_name()
        partitions = [tp.partition for tp in newly_assigned if tp.topic == changelog]
        if not partitions:
            return
        report = await restore_partitions(store, changelog, partitions, consumer)
        if report.total:
            log.info(
                "bulk restore: %d changelog records into %d partitions in %.2f s (%.0f records/s)",
                report.total, len(report.records), report.seconds, report.total / max(report.seconds, 1e-9),
            )  # fmt: skip
        restored(report)

    store.on_rebalance = on_rebalance
    return True
