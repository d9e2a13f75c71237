"""Which worker of a partitioned verifier group owns a lineage: Kafka's placement."""

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from services.verifier.partitions import Ownership, murmur2, partition_of


def test_murmur2_is_kafkas():
    rng = random.Random(17)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", b"\xff\x80\x00\x7f\xfe"]
    keys += [rng.randbytes(rng.randrange(0, 80)) for _ in range(5000)]
    for key in keys:
        assert murmur2(key) == aiokafka_murmur2(key) & 0xFFFFFFFF, key
    # the Java client's published vectors (Kafka's UtilsTest.testMurmur2)
    assert murmur2(b"21") & 0xFFFFFFFF == (-973932308) & 0xFFFFFFFF
    assert murmur2(b"foobar") & 0xFFFFFFFF == (-790332482) & 0xFFFFFFFF


def test_partition_of_is_the_default_partitioners():
    partitioner = DefaultPartitioner()
    rng = random.Random(5)
    for _ in range(2000):
        key = f"L-{rng.randrange(10**12)}".encode()
        for count in (1, 3, 4, 12):
            parts = list(range(count))
            assert partition_of(key, count) == partitioner(key, parts, parts)


def test_ownership_is_partition_mod_size():
    two = Ownership(2, 1)
    assert [two.owner(p) for p in range(5)] == [0, 1, 0, 1, 0]
    assert [p for p in range(6) if two.owns(p)] == [1, 3, 5]
    assert all(Ownership().owns(p) for p in range(12))
