"""One memory setting for the worker (``CREDITSTREAM_MEMORY_MB``), divided between what grows with
the users it holds: RocksDB's block cache and its memtables, and the decoded-state cache.

Faust opens one RocksDB database per table partition, each with its own defaults: a 2 GB block
cache (rocksdict allocates as it fills), 3 x 64 MB memtables. A worker holding eight partitions,
standbys included, could so grow to gigabytes with nothing in creditstream saying how much; a
container with a memory limit killed it at a population nobody could predict. Here:

- **one block cache shared by every database** of the worker (``rocksdict.Cache``): 40% of the
  budget, whatever the number of partitions it holds;
- **one write-buffer manager across all of them** (``rocksdict.WriteBufferManager``): 25%, the most
  every memtable of the worker may hold together; each database's own memtable is sized so that
  all partitions' buffers fit it, and the manager flushes early past it;
- **the decoded-state cache**: the other 35%, at ``STATE_BYTES`` a user (a decoded state measured
  at about 20 KB of Python objects). ``CREDITSTREAM_STATE_CACHE_USERS``, when set, still wins.

The default, 512 MB, is for a 1 GiB container: the process itself (Python, faust, aiokafka,
kafka-python, the engine and its policy) stands at about 110 MB idle, a batch in flight and the
producer's buffers take some tens more, and the budget keeps the state cache where it was (about
9,000 users) while capping RocksDB, which had no ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import rocksdict
from faust.stores.rocksdb import RocksDBOptions

__all__ = [
    "BLOCK_CACHE_SHARE",
    "DEFAULT_MEMORY_MB",
    "STATE_BYTES",
    "STATE_CACHE_SHARE",
    "WRITE_BUFFERS_SHARE",
    "BudgetedRocksDBOptions",
    "MemoryBudget",
]

DEFAULT_MEMORY_MB: Final = 512
BLOCK_CACHE_SHARE: Final = 0.40
WRITE_BUFFERS_SHARE: Final = 0.25
STATE_CACHE_SHARE: Final = 0.35
STATE_BYTES: Final = 20 * 1024
MEMTABLES_PER_DATABASE: Final = 2  # one being written, one being flushed
# The bloom filter at 10 bits a key (about 1% false positives), not faust's 3 (about 15%): a read
# looks for its key in a file of every level, and for a user not yet stored (every first event)
# in all of them. (The table properties show a full filter per file either way: this RocksDB
# builds no per-block filters, whatever ``block_based`` says.)
BLOOM_BITS_PER_KEY: Final = 10
_MIB: Final = 1024 * 1024


@dataclass(frozen=True)
class MemoryBudget:
    """The split of ``memory_mb`` for a worker whose table has ``partitions`` partitions (it may
    hold all of them, active or standby)."""

    memory_mb: int
    partitions: int
    block_cache_bytes: int
    write_buffers_bytes: int
    write_buffer_bytes: int  # one memtable of one database
    state_cache_users: int

    @classmethod
    def split(cls, memory_mb: int, partitions: int, state_cache_users: int | None = None) -> MemoryBudget:
        total = memory_mb * _MIB
        write_buffers = int(total * WRITE_BUFFERS_SHARE)
        return cls(
            memory_mb=memory_mb,
            partitions=partitions,
            block_cache_bytes=int(total * BLOCK_CACHE_SHARE),
            write_buffers_bytes=write_buffers,
            write_buffer_bytes=max(_MIB, write_buffers // (partitions * MEMTABLES_PER_DATABASE)),
            state_cache_users=(
                state_cache_users
                if state_cache_users is not None
                else int(total * STATE_CACHE_SHARE) // STATE_BYTES
            ),
        )

    def describe(self) -> str:
        return (
            f"memory budget {self.memory_mb} MB: block cache {self.block_cache_bytes // _MIB} MB shared by "
            f"every table partition, memtables {self.write_buffers_bytes // _MIB} MB in all "
            f"({self.write_buffer_bytes // _MIB} MB each), state cache {self.state_cache_users} users"
        )


class BudgetedRocksDBOptions(RocksDBOptions):
    """faust's RocksDB options, with one block cache and one write-buffer manager for every
    database the store opens (faust makes a new cache per database)."""

    def __init__(self, budget: MemoryBudget, **options: Any) -> None:
        super().__init__(
            write_buffer_size=budget.write_buffer_bytes,
            max_write_buffer_number=MEMTABLES_PER_DATABASE,
            block_cache_size=budget.block_cache_bytes,
            use_rocksdict=True,
            **options,
        )
        self.budget = budget
        self.shared_cache = rocksdict.Cache(budget.block_cache_bytes)
        self.write_buffer_manager = rocksdict.WriteBufferManager(budget.write_buffers_bytes, False)

    def as_options(self) -> Any:
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(self.max_open_files if self.max_open_files is not None else -1)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_write_buffer_manager(self.write_buffer_manager)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(BLOOM_BITS_PER_KEY, block_based=False)
        table.set_block_cache(self.shared_cache)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options
