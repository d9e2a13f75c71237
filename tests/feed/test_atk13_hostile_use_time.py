"""atk13: a usage record on the usage topic whose use carries a time a Timestamp
cannot hold (LicenceUse.occurred_at, services/verifier/gathering.py), as the feed's
webhook delivery handles it (services/feed/webhooks.py, ``_partition``: views,
event_meta, then cloudevent_json, nothing caught). xfail(strict) until fixed."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from certseal.events import LICENCE_USAGE
from certseal.v1 import events_pb2
from services.feed.events import cloudevent_json, event_meta, views
from tests.feed.test_domain_usage_views import DEPT_A, DEPT_B, TYPE_1, split, use


def webhook_bodies(record) -> list[bytes]:
    """What a webhook delivery does with one record (WebhookDelivery._partition)."""
    bodies = []
    for part in views(LICENCE_USAGE, record.key, dict(record.headers), record.value):
        if event_meta(LICENCE_USAGE, part.headers, part.value) is None:
            continue  # not an event: not delivered
        bodies.append(cloudevent_json(LICENCE_USAGE, part.value, part.headers))
    return bodies


@pytest.mark.xfail(
    strict=True,
    reason="atk13: MessageToDict raises SerializeToJsonError for the use's time; "
    "_partition catches nothing, so the delivery task ends before its commit and, "
    "restarted, meets the same record again: the webhook stalls on it for ever",
)
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
