"""The bulk restore (streams.worker.restore) on the real broker and faust's own RocksDB store: each
partition's database ends as the changelog's last value per key (tombstones delete), with the last
offset read as faust's persisted offset, and a restore starts from the offset a database already has.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from faust.types import TP
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from streams.worker.restore import restore_partitions

pytestmark = pytest.mark.broker

PARTITIONS = 3


def users_store(directory: Path) -> Any:
    """faust's RocksDB store of a table, as the worker opens it (never started: only its databases)."""
    app = faust.App(f"restore-{uuid.uuid4().hex[:6]}", store="rocksdb://", datadir=str(directory))
    table = app.Table("users", partitions=PARTITIONS, key_type=bytes, value_type=bytes, default=None)
    return table.data


def write_changelog(bootstrap: str, topic: str, rows: list[tuple[int, bytes, bytes | None]]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        admin.close()
    append(bootstrap, topic, rows)


def append(bootstrap: str, topic: str, rows: list[tuple[int, bytes, bytes | None]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for partition, key, value in rows:
        producer.send(topic, key=key, value=value, partition=partition)
    producer.flush()
    producer.close()


def restore(bootstrap: str, store: Any, topic: str) -> Any:
    def consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)

    return asyncio.run(restore_partitions(store, topic, range(PARTITIONS), consumer))


def contents(store: Any, partition: int) -> dict[bytes, bytes]:
    db = store._db_for_partition(partition)
    return {key: value for key, value in db.items() if key != store.offset_key}


def test_each_partition_ends_as_the_last_value_per_key_with_faust_s_persisted_offset(
    bootstrap: str, tmp_path: Path
) -> None:
    topic = f"restore-{uuid.uuid4().hex[:8]}-users-changelog"
    rows: list[tuple[int, bytes, bytes | None]] = []
    for version in range(3):
        for partition in range(PARTITIONS):
            for n in range(400):
                rows.append((partition, f"u{partition}-{n}".encode(), f"v{version}-{n}".encode()))
    rows += [(1, b"u1-7", None), (2, b"u2-9", None)]  # deleted users
    write_changelog(bootstrap, topic, rows)

    store = users_store(tmp_path)
    report = restore(bootstrap, store, topic)

    assert report.records == {0: 1200, 1: 1201, 2: 1201}
    for partition in range(PARTITIONS):
        expected = {f"u{partition}-{n}".encode(): f"v2-{n}".encode() for n in range(400)}
        expected.pop({1: b"u1-7", 2: b"u2-9"}.get(partition, b""), None)
        assert contents(store, partition) == expected
        assert store.persisted_offset(TP(topic, partition)) == (1200 if partition else 1199)


def test_a_restore_continues_from_the_offset_the_database_already_has(bootstrap: str, tmp_path: Path) -> None:
    topic = f"restore-{uuid.uuid4().hex[:8]}-users-changelog"
    write_changelog(bootstrap, topic, [(0, f"k{n}".encode(), f"first-{n}".encode()) for n in range(100)])
    store = users_store(tmp_path)
    assert restore(bootstrap, store, topic).records == {0: 100}

    # Written after: only these are read again, and a key the database holds but no new record
    # names keeps its value (the restore applied the log from offset 100, not from the start).
    append(bootstrap, topic, [(0, f"k{n}".encode(), f"second-{n}".encode()) for n in range(50)])
    store._db_for_partition(0).put(b"k99", b"kept-locally")

    assert restore(bootstrap, store, topic).records == {0: 50}
    found = contents(store, 0)
    assert found[b"k0"] == b"second-0" and found[b"k60"] == b"first-60"
    assert found[b"k99"] == b"kept-locally"
    assert store.persisted_offset(TP(topic, 0)) == 149
    # Nothing new: nothing read, the offset stays.
    assert restore(bootstrap, store, topic).records == {}
    assert store.persisted_offset(TP(topic, 0)) == 149
