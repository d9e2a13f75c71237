"""``certseal verifier status``'s line per partition (nu24: an empty partition
printed "applied -1 of 0", the wire's -1 for "none yet")."""

from certseal.v1 import verifier_pb2 as pb
from services.verifier.cli import partition_line


def test_a_partition_with_nothing_applied_says_so():
    empty = pb.PartitionStatus(
        topic="certseal.trust.v1", partition=2, applied_offset=-1, high_water=0, lag=0
    )
    assert partition_line(empty) == (
        "certseal.trust.v1[2] applied nothing, end offset 0, lag 0"
    )


def test_a_partition_behind_says_its_last_offset_end_and_lag():
    behind = pb.PartitionStatus(
        topic="certseal.licence-events.v1",
        partition=0,
        applied_offset=41,
        high_water=50,
        lag=8,
    )
    assert partition_line(behind) == (
        "certseal.licence-events.v1[0] applied to offset 41, end offset 50, lag 8"
    )
