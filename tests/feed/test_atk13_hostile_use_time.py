"""atk13: a usage record on the usage topic whose use carries a time a Timestamp
cannot hold (LicenceUse.occurred_at, services/verifier/gathering.py), as the feed's
webhook delivery handles it (services/feed/webhooks.py, ``_partition``: views,
event_meta, then cloudevent_json). Was a finding (cloudevent_json raised, nothing
caught it, and the delivery restarted on the same batch for ever); fixed: views read
such a use at the record's time, and a record cloudevent_json still cannot write is
parked (test_a_record_that_cannot_be_written_as_json_is_parked_not_raised)."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from certseal.events import LICENCE_USAGE
from certseal.v1 import events_pb2
from services.feed.events import cloudevent_body, cloudevent_json, event_meta, views
from tests.feed.test_domain_usage_views import DEPT_A, DEPT_B, TYPE_1, split, use


def webhook_bodies(record) -> list[bytes]:
    """What a webhook delivery does with one record (WebhookDelivery._partition)."""
    bodies = []
    for part in views(LICENCE_USAGE, record.key, dict(record.headers), record.value):
        if event_meta(LICENCE_USAGE, part.headers, part.value) is None:
            continue  # not an event: not delivered
        bodies.append(cloudevent_json(LICENCE_USAGE, part.value, part.headers))
    return bodies


@pytest.mark.parametrize(
    "bad",
    [Timestamp(seconds=253402300800), Timestamp(seconds=1, nanos=-1)],
    ids=["after-9999", "nanos-negative"],
)
@pytest.mark.parametrize("departments", [1, 2], ids=["one-view", "split"])
def test_atk13_a_use_with_an_unreadable_time_does_not_stall_a_webhook(bad, departments):
    a = use(DEPT_A, TYPE_1, 1)
    b = use(DEPT_A if departments == 1 else DEPT_B, TYPE_1, 2)
    b.occurred_at.CopyFrom(bad)
    record, _parts = split([a, b])
    try:
        bodies = webhook_bodies(record)
    except Exception as exc:  # anything but a body or a refused record
        pytest.fail(f"the webhook delivery raised {exc!r}")
    for body in bodies:
        assert body.startswith(b"{")  # each delivered view is a CloudEvent
    assert events_pb2.LicenceUsedEvent.FromString(record.value).uses[0] == a


def test_a_record_that_cannot_be_written_as_json_is_parked_not_raised():
    """The record's own time out of range (no use to clear): cloudevent_body gives no
    body and the reason a webhook parks it with (services/feed/webhooks.py)."""
    a = use(DEPT_A, TYPE_1, 1)
    record, _parts = split([a])
    event = events_pb2.LicenceUsedEvent.FromString(record.value)
    event.occurred_at.seconds = 253402300800
    (part,) = views(
        LICENCE_USAGE, record.key, dict(record.headers), event.SerializeToString()
    )
    body, why = cloudevent_body(LICENCE_USAGE, part.value, part.headers)
    assert body is None and why.startswith("not renderable as a CloudEvent:")
    assert cloudevent_body(LICENCE_USAGE, record.value, dict(record.headers))[0]
