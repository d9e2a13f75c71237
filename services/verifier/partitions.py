"""Which worker of a partitioned verifier group owns a licence's entry.

The licence topic is keyed by lineage; a record's partition is Kafka's default
partitioner's choice (:func:`partition_of`), and partition p belongs to worker
p mod group_size (:class:`Ownership`). Every worker computes the same owner for every
lineage, so a lookup goes straight to the worker that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.partitioner import murmur2


def partition_of(key: bytes, partitions: int) -> int:
    """The partition a keyed record goes to: Kafka's default partitioner (murmur2 of
    the key bytes, sign bit cleared, modulo the partition count), as the issuer's
    outbox relay places licence events (aiokafka's ``DefaultPartitioner``, the Java
    client's ``Utils.toPositive(Utils.murmur2(key)) % numPartitions``)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class Ownership:
    """Which licence-topic partitions worker ``ordinal`` of a group of ``size`` owns:
    partition p belongs to worker p mod size (deterministic: every worker computes
    the same owner for every partition)."""

    size: int = 1
    ordinal: int = 0

    def owner(self, partition: int) -> int:
        """The ordinal of the worker that owns ``partition``."""
        return partition % self.size

    def owns(self, partition: int) -> bool:
        """Whether this worker owns ``partition``."""
        return self.owner(partition) == self.ordinal
