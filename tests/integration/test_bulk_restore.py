"""The bulk restore (streams.worker.restore) on the real broker and faust's own RocksDB store: each
partition's database ends as the changelog's last value per key (tombstones delete), with the last
offset read as faust's persisted offset, a restore starts from the offset a database already has,
and a restore SIGKILLed half-way leaves contents that agree with its offset.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from faust.stores.rocksdb import RocksDBOptions
from faust.types import TP
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from streams.worker.restore import restore_partitions

pytestmark = pytest.mark.broker

PARTITIONS = 3


def users_store(directory: Path, app_id: str | None = None) -> Any:
    """faust's RocksDB store of a table, as the worker opens it (never started: only its databases)."""
    app = faust.App(app_id or f"restore-{uuid.uuid4().hex[:6]}", store="rocksdb://", datadir=str(directory))
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


def restore(bootstrap: str, store: Any, topic: str, fetch_bytes: int = 1024 * 1024) -> Any:
    def consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
            max_partition_fetch_bytes=fetch_bytes,
        )  # fmt: skip

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


KEYS = 2_000
WRITES = 150_000


def restore_in_child(bootstrap: str, directory: str, app_id: str, topic: str) -> None:
    """Run by the crash test in a process of its own, with small fetches: many write batches."""
    store = users_store(Path(directory), app_id)
    # Small memtables: RocksDB flushes many times during the restore, so a kill finds some of it
    # on disk (the prefix that must agree with the offset) and some not.
    store.rocksdb_options = RocksDBOptions(write_buffer_size=64 * 1024, use_rocksdict=True)
    opened = store._db_for_partition
    calls = 0

    def db_for_partition(partition: int) -> Any:
        nonlocal calls
        calls += 1
        if calls == 50:  # some write batches are in: the parent may kill now
            print("writing", flush=True)
        return opened(partition)

    store._db_for_partition = db_for_partition
    restore(bootstrap, store, topic, fetch_bytes=4 * 1024)


def test_a_restore_killed_half_way_leaves_a_database_whose_contents_match_its_offset(
    bootstrap: str, tmp_path: Path
) -> None:
    """The restore writes without RocksDB's write-ahead log: a SIGKILL loses the unflushed writes
    and their offset together. What is left is the changelog applied up to the persisted offset,
    and the next restore goes on from there to the same end as an uninterrupted one."""
    topic = f"restore-{uuid.uuid4().hex[:8]}-users-changelog"
    # Record n writes key n % KEYS with value n, on partition 0: its offset is n.
    write_changelog(bootstrap, topic, [(0, f"k{n % KEYS}".encode(), str(n).encode()) for n in range(WRITES)])
    app_id = f"crash-{uuid.uuid4().hex[:6]}"
    run_child = "import sys; from tests.integration.test_bulk_restore import restore_in_child; "
    run_child += "restore_in_child(*sys.argv[1:])"
    child = subprocess.Popen(
        [sys.executable, "-c", run_child, bootstrap, str(tmp_path), app_id, topic], stdout=subprocess.PIPE
    )
    assert child.stdout is not None and child.stdout.readline() == b"writing\n"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)

    store = users_store(tmp_path, app_id)
    persisted = store.persisted_offset(TP(topic, 0))
    found = contents(store, 0)
    applied = -1 if persisted is None else persisted
    expected = {f"k{n % KEYS}".encode(): str(n).encode() for n in range(applied + 1)}
    assert found == expected
    assert applied < WRITES - 1, "the restore ended before the kill: nothing was tested"

    report = restore(bootstrap, store, topic)
    assert report.total == WRITES - 1 - applied
    assert contents(store, 0) == {
        f"k{n % KEYS}".encode(): str(n).encode() for n in range(WRITES - KEYS, WRITES)
    }
