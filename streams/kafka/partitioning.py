"""Kafka's default partitioner (murmur2 of the key), with each key's hash remembered.

kafka-python's and aiokafka's murmur2 are pure Python: about 4 us a key on the bench machine. The
worker paid it once for the envelope check of every input record and once for the partition of every
output record sent under the user's key (1.3 outputs an event in the backlog bench). The users of a
partition come back again and again, so the hashes of the keys seen last are kept (a bounded memory,
emptied whole when full) and a hash is computed once per key until then.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

from kafka.partitioner.default import murmur2

__all__ = ["KEYS_REMEMBERED", "KeyHashes", "RememberingPartitioner", "key_partition"]

KEYS_REMEMBERED: Final = 65_536  # about 10 MB of keys and hashes at most


class KeyHashes:
    """murmur2(key) & 0x7FFFFFFF per key, as Kafka's default partitioner takes it, remembered for
    up to ``capacity`` keys."""

    __slots__ = ("_capacity", "_hashes")

    def __init__(self, capacity: int = KEYS_REMEMBERED) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._hashes: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._hashes)

    def positive_hash(self, key: bytes) -> int:
        known = self._hashes.get(key)
        if known is not None:
            return known
        if len(self._hashes) >= self._capacity:
            self._hashes.clear()  # the keys still in use come back at once
        hashed = self._hashes[key] = int(murmur2(key)) & 0x7FFFFFFF
        return hashed


_HASHES: Final = KeyHashes()


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java client, kafka-python, aiokafka) gives a key."""
    return _HASHES.positive_hash(key) % partitions


class RememberingPartitioner:
    """aiokafka's ``DefaultPartitioner`` (the producer's ``partitioner``), with the key's hash
    remembered: the same partition for every key, and a random available one for no key."""

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[_HASHES.positive_hash(key) % len(all_partitions)]
