"""The clock and protobuf timestamps, shared by every service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from google.protobuf.timestamp_pb2 import Timestamp

Clock = Callable[[], dt.datetime]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def utcnow() -> dt.datetime:
    """The real clock."""
    return dt.datetime.now(dt.UTC)


def ts(value: dt.datetime | None) -> Timestamp | None:
    """A protobuf timestamp (None stays unset)."""
    if value is None:
        return None
    # Timestamp.FromDatetime is pure Python and showed in the batch profile.
    seconds = (value - _EPOCH) // dt.timedelta(seconds=1)
    return Timestamp(seconds=seconds, nanos=value.microsecond * 1000)
