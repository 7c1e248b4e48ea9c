"""CREDITSTREAM_MEMORY_MB (issue 38): one setting divides the worker's memory between RocksDB's
block cache, its memtables and the decoded-state cache; the options reach the open databases; and
the changelog is created with the settings that let the log cleaner keep a record a user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.kafka.settings import Settings, SettingsError
from streams.policy import default_policy
from streams.worker.app import CHANGELOG_TOPIC_CONFIGS, create_app
from streams.worker.memory import (
    BLOCK_CACHE_SHARE,
    BLOOM_BITS_PER_KEY,
    STATE_BYTES,
    STATE_CACHE_SHARE,
    WRITE_BUFFERS_SHARE,
    MemoryBudget,
)
from streams.worker.parts import CreditApp

MIB = 1024 * 1024


def test_the_budget_is_split_and_never_exceeded() -> None:
    budget = MemoryBudget.split(512, partitions=8)
    assert budget.block_cache_bytes == int(512 * MIB * BLOCK_CACHE_SHARE)
    assert budget.write_buffers_bytes == int(512 * MIB * WRITE_BUFFERS_SHARE)
    assert budget.write_buffer_bytes * 8 * 2 <= budget.write_buffers_bytes  # every partition's two memtables
    assert budget.state_cache_users == int(512 * MIB * STATE_CACHE_SHARE) // STATE_BYTES
    spent = budget.block_cache_bytes + budget.write_buffers_bytes + budget.state_cache_users * STATE_BYTES
    assert spent <= 512 * MIB
    assert 8_000 < budget.state_cache_users < 10_000  # about where the state cache was before the budget


def test_an_explicit_state_cache_wins_and_more_partitions_mean_smaller_memtables() -> None:
    assert MemoryBudget.split(512, 8, state_cache_users=500).state_cache_users == 500
    assert MemoryBudget.split(512, 64).write_buffer_bytes < MemoryBudget.split(512, 8).write_buffer_bytes
    assert MemoryBudget.split(64, 4096).write_buffer_bytes == MIB  # never below 1 MiB a memtable


def test_the_setting_is_read_and_checked() -> None:
    assert Settings.from_environment({}).memory_mb == 512
    assert Settings.from_environment({"CREDITSTREAM_MEMORY_MB": "2048"}).memory_mb == 2048
    with pytest.raises(SettingsError, match="CREDITSTREAM_MEMORY_MB"):
        Settings.from_environment({"CREDITSTREAM_MEMORY_MB": "a lot"})
    with pytest.raises(SettingsError, match="CREDITSTREAM_MEMORY_MB"):
        Settings.from_environment({"CREDITSTREAM_MEMORY_MB": "16"})


@pytest.fixture()
def rocksdb_parts(tmp_path: Path) -> Iterator[CreditApp]:
    settings = Settings.from_environment(
        {
            "CREDITSTREAM_STORE": "rocksdb",
            "CREDITSTREAM_STATE_DIR": str(tmp_path),
            "CREDITSTREAM_APP_ID": "budget",
            "CREDITSTREAM_PARTITIONS": "4",
            "CREDITSTREAM_MEMORY_MB": "256",
        }
    )
    yield create_app(settings, default_policy())


def test_the_budget_reaches_the_open_databases(rocksdb_parts: CreditApp, tmp_path: Path) -> None:
    budget = MemoryBudget.split(256, 4)
    assert rocksdb_parts.state_cache.capacity == budget.state_cache_users
    store = rocksdb_parts.users.data
    first, second = store._db_for_partition(0), store._db_for_partition(1)
    # Read back from RocksDB itself: the block cache each database uses has the budget's capacity...
    assert first.property_int_value("rocksdb.block-cache-capacity") == budget.block_cache_bytes
    assert second.property_int_value("rocksdb.block-cache-capacity") == budget.block_cache_bytes
    # ...and it is one cache: what one database reads into it shows in the other's usage.
    for number in range(2000):
        first[f"user-{number}".encode()] = b"x" * 512
    first.flush()
    for number in range(2000):
        assert first[f"user-{number}".encode()] == b"x" * 512
    used = first.property_int_value("rocksdb.block-cache-usage")
    assert used > 0 and second.property_int_value("rocksdb.block-cache-usage") == used
    # The bloom filter covers every key of the table file at 10 bits a key (faust's own: 3 bits):
    # the file's properties say how large it came out.
    table = first.property_value("rocksdb.aggregated-table-properties")
    properties = dict(part.strip().split("=", 1) for part in table.split(";") if "=" in part)
    filtered = int(properties["# entries for filter"])
    assert filtered == 2000
    assert int(properties["filter block size"]) * 8 / filtered == pytest.approx(BLOOM_BITS_PER_KEY, rel=0.05)
    # Each database's memtable size, as RocksDB wrote it into its OPTIONS file.
    options_files = sorted(tmp_path.rglob("OPTIONS-*"))
    assert options_files
    sizes = {
        int(m) for path in options_files for m in re.findall(r"\bwrite_buffer_size=(\d+)", path.read_text())
    }
    assert sizes == {budget.write_buffer_bytes}


def test_the_changelog_is_created_to_be_compacted_to_a_record_a_user(rocksdb_parts: CreditApp) -> None:
    config = dict(rocksdb_parts.users.changelog_topic.config or {})
    assert config["cleanup.policy"] == "compact"
    for name, value in CHANGELOG_TOPIC_CONFIGS.items():
        assert config[name] == value, name
    assert int(config["segment.ms"]) <= 3_600_000  # segments roll: the cleaner never cleans the active one
