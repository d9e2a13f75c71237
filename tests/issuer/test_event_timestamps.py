"""A batch's licence events share their timestamps' protobuf values
(services/issuer/events.py, _batch_ts): each event still gets its own copy, and
each instant its own value."""

from __future__ import annotations

import datetime as dt

from certseal.timestamps import ts
from certseal.v1 import events_pb2
from services.issuer.events import _batch_ts

AT = dt.datetime(2026, 12, 1, 4, 5, 6, 789012, tzinfo=dt.UTC)


def test_an_events_timestamp_is_its_own_copy() -> None:
    first = events_pb2.LicenceEvent(occurred_at=_batch_ts(AT))
    second = events_pb2.LicenceEvent(occurred_at=_batch_ts(AT))
    first.occurred_at.seconds += 1
    assert second.occurred_at == ts(AT)
    assert _batch_ts(AT) == ts(AT)


def test_every_instant_gets_its_own_value_also_past_the_kept_few() -> None:
    instants = [AT + dt.timedelta(microseconds=n) for n in range(200)]
    for _ in range(2):
        for at in instants:
            assert _batch_ts(at) == ts(at)
    other_zone = AT.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert _batch_ts(other_zone) == ts(AT)  # the same instant
