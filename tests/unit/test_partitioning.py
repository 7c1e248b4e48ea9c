"""streams.kafka.partitioning: Kafka's default partitioner with each key's hash remembered gives
the very partitions of the libraries' own (kafka-python's murmur2, aiokafka's DefaultPartitioner),
and its memory stays bounded. (The worker's producer using it: tests/unit/test_settings.py.)"""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner
from kafka.partitioner.default import murmur2

from streams.kafka.partitioning import KeyHashes, RememberingPartitioner, key_partition
from streams.processing import expected_partition


def _keys(count: int) -> list[bytes]:
    rng = random.Random(7)
    return [f"user-{rng.randrange(10**9)}".encode() for _ in range(count)] + [b"", b"\x00", "用户".encode()]


@pytest.mark.parametrize("partitions", [1, 3, 8, 12])
def test_a_key_goes_where_kafka_pythons_murmur2_sends_it_also_when_asked_again(partitions: int) -> None:
    for key in _keys(500) * 2:  # the second round reads the remembered hashes
        assert key_partition(key, partitions) == (murmur2(key) & 0x7FFFFFFF) % partitions
        assert expected_partition(key, partitions) == key_partition(key, partitions)


def test_the_producer_partitioner_chooses_as_aiokafkas_default() -> None:
    ours, theirs = RememberingPartitioner(), DefaultPartitioner()
    all_partitions = list(range(8))
    for key in _keys(500) * 2:
        assert ours(key, all_partitions, all_partitions) == theirs(key, all_partitions, all_partitions)


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    partitioner = RememberingPartitioner()
    assert {partitioner(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert {partitioner(None, [0, 1], []) for _ in range(50)} <= {0, 1}


def test_the_memory_of_hashes_never_holds_more_than_its_capacity() -> None:
    hashes = KeyHashes(capacity=100)
    for key in _keys(1000):
        assert hashes.positive_hash(key) == murmur2(key) & 0x7FFFFFFF
        assert len(hashes) <= 100
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        KeyHashes(capacity=0)
