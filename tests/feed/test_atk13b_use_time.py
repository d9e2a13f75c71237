"""atk13b: the feed and the issuer read one use's time differently.

eb112bf: the feed's views clear a use's time a Timestamp cannot hold, 'read at the
record's time, as the issuer does'. But the issuer's rule is wider: a use whose
``occurred_at`` is present and zero (1970-01-01T00:00:00Z, what a producer that sets
the field from an unset clock writes) is also read at the record's time
(usage_consumer._time: zero is 'no time'), while the feed keeps it: an integrator's
webhook is told the use was verified in 1970, the holder's usage record says the
record's time. One record, two answers."""

from __future__ import annotations

import json

from google.protobuf.timestamp_pb2 import Timestamp

from certseal.events import LICENCE_USAGE
from services.feed.events import cloudevent_json, views
from services.issuer.usage_consumer import verification_entries
from tests.feed.test_domain_usage_views import DEPT_A, TYPE_1, split, use


def test_a_zero_use_time_reads_the_same_in_the_feed_as_in_the_usage_record():
    a, b = use(DEPT_A, TYPE_1, 1), use(DEPT_A, TYPE_1, 2)
    b.occurred_at.CopyFrom(Timestamp(seconds=0, nanos=0))
    record, _parts = split([a, b])
    stored = [e.occurred_at for e in verification_entries(record.value)]
    (part,) = views(LICENCE_USAGE, record.key, dict(record.headers), record.value)
    body = json.loads(cloudevent_json(LICENCE_USAGE, part.value, part.headers))
    told = [u.get("occurredAt") or body["time"] for u in body["data"]["uses"]]
    assert told == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in stored]
