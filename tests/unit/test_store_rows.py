"""The agent's writes into faust's RocksDB store: one write batch per partition, each row on its own
partition, readable through faust's store as if faust had written it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from streams.kafka.settings import Settings
from streams.policy import default_policy
from streams.worker.app import create_app
from streams.worker.parts import CreditApp


@pytest.fixture()
def parts(tmp_path: Path) -> Iterator[CreditApp]:
    settings = Settings.from_environment(
        {
            "CREDITSTREAM_STORE": "rocksdb",
            "CREDITSTREAM_STATE_DIR": str(tmp_path),
            "CREDITSTREAM_APP_ID": "unit-store",
            "CREDITSTREAM_PARTITIONS": "2",
        }
    )
    built = create_app(settings, default_policy())
    built.app.finalize()
    yield built
    for db in built.users.data._dbs.values():
        db.close()


def test_rows_land_in_their_partitions_store_and_read_back_through_faust(parts: CreditApp) -> None:
    store = parts.users.data
    parts.store_rows([(0, b"u-1", b"first"), (1, b"u-2", b"second"), (0, b"u-1", b"latest"), (0, b"m", b"5")])
    zero, one = store._db_for_partition(0), store._db_for_partition(1)
    assert (zero[b"u-1"], zero[b"m"], one[b"u-2"]) == (b"latest", b"5", b"second")
    assert b"u-2" not in zero and b"u-1" not in one  # a user's row on its partition only
    # faust's own read finds each key where the rows went (its key index says which partition).
    assert (store[b"u-1"], store[b"u-2"]) == (b"latest", b"second")
    assert (store._key_index[b"u-1"], store._key_index[b"u-2"]) == (0, 1)
    store._key_index.clear()  # and without the index, by looking in every partition, as after a restart
    assert store[b"u-2"] == b"second"


def test_a_state_is_read_from_its_partitions_database(parts: CreditApp) -> None:
    parts.store_rows([(0, b"u-1", b"first"), (1, b"u-2", b"second")])
    assert parts.stored_state(0, b"u-1", None) == b"first"
    assert parts.stored_state(1, b"u-2", None) == b"second"
    # Only that partition's database: a user is read where the partitioner put it, as faust reads.
    assert parts.stored_state(1, b"u-1", None) is None
    assert parts.stored_state(0, b"nobody", None) is None


def test_the_memory_store_takes_the_rows_too(tmp_path: Path) -> None:
    settings = Settings.from_environment(
        {
            "CREDITSTREAM_STORE": "memory",
            "CREDITSTREAM_STATE_DIR": str(tmp_path),
            "CREDITSTREAM_PARTITIONS": "2",
        }
    )
    built = create_app(settings, default_policy())
    built.store_rows([(0, b"u-1", b"a"), (1, b"u-2", b"b")])
    assert (built.users.data[b"u-1"], built.users.data[b"u-2"]) == (b"a", b"b")
    # and gives them back through faust's own read (an event says the partition, as live).
    assert built.stored_state(1, b"u-2", _Event(1)) == b"b"
    assert built.stored_state(0, b"nobody", _Event(0)) is None


class _Event:
    """What faust's store reads of its current event: the record's partition (held weakly)."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)
