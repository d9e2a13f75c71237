"""atk13: a usage record whose uses carry their own times (LicenceUse.occurred_at,
services/verifier/gathering.py) as the issuer's usage consumer reads it. Was a finding
(one use's time outside what a Timestamp holds made the consumer skip the whole
record, every other use gathered into it lost); fixed: that use is stored at the
record's time."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from certseal.events import LICENCE_USAGE
from certseal.timestamps import ts, utcnow
from certseal.v1 import events_pb2
from services.issuer.usage_consumer import entries_of


@pytest.mark.parametrize(
    "bad",
    [
        Timestamp(seconds=253402300800),  # year 10000
        Timestamp(seconds=-62135596801),  # before year 1
        Timestamp(seconds=1, nanos=-1),
        Timestamp(seconds=1, nanos=1_000_000_000),
    ],
    ids=["after-9999", "before-1", "nanos-negative", "nanos-too-big"],
)
def test_atk13_one_uses_unreadable_time_does_not_drop_the_records_other_uses(bad):
    first = utcnow()
    value = events_pb2.LicenceUsedEvent(
        event_id="ev",
        type="licence.used",
        occurred_at=ts(first),
        counter="dept:11440300VERIFIERS1",
        uses=[
            events_pb2.LicenceUse(lineage="A", identifier="A.1"),
            events_pb2.LicenceUse(lineage="B", identifier="B.1", occurred_at=bad),
        ],
    ).SerializeToString()
    try:
        entries = entries_of(LICENCE_USAGE, value)
    except (ValueError, OverflowError):  # what the consumer skips the record for
        entries = []
    assert [(e.lineage, e.occurred_at) for e in entries] == [("A", first), ("B", first)]
