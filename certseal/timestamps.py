"""The clock and protobuf timestamps, shared by every service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, overload

from google.protobuf.timestamp_pb2 import Timestamp

from certseal.errors import invalid

Clock = Callable[[], dt.datetime]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# google.protobuf.Timestamp's own range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z
MIN_SECONDS = -62135596800
MAX_SECONDS = 253402300799


def holds_time(value: Timestamp) -> bool:
    """Whether ``value`` is a time a Timestamp may hold (google/protobuf/timestamp.proto:
    seconds from 0001-01-01 to 9999-12-31, nanos 0 to 999,999,999): one that
    ``ToDatetime`` and protobuf's JSON writer take."""
    return (
        0 <= value.nanos <= 999_999_999 and MIN_SECONDS <= value.seconds <= MAX_SECONDS
    )


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


def from_ts(value: Timestamp) -> dt.datetime | None:
    """The datetime of a protobuf timestamp (an unset one is None)."""
    if not value.seconds and not value.nanos:
        return None
    return value.ToDatetime(tzinfo=dt.UTC)


def request_time(
    message: Any, name: str, *, field: str | None = None
) -> dt.datetime | None:
    """The datetime (UTC) of optional Timestamp field ``name`` of a request; None when
    unset.

    Raises INVALID_ARGUMENT naming ``field`` (default ``name``) for a value outside
    what a Timestamp may hold: seconds before 0001-01-01 or after 9999-12-31, nanos
    outside 0 to 999,999,999. Sub-microsecond nanos are dropped (datetime's
    resolution).
    """
    if not message.HasField(name):
        return None
    value: Timestamp = getattr(message, name)
    where = field or name
    if not 0 <= value.nanos <= 999_999_999:
        raise invalid(where, f"nanos {value.nanos} is outside 0 to 999,999,999")
    if not MIN_SECONDS <= value.seconds <= MAX_SECONDS:
        raise invalid(
            where,
            f"{value.seconds} seconds is outside 0001-01-01 to 9999-12-31 (UTC)",
        )
    return _EPOCH + dt.timedelta(
        seconds=value.seconds, microseconds=value.nanos // 1000
    )


def shifted(value: dt.datetime, delta: dt.timedelta, field: str) -> dt.datetime:
    """``value + delta``; INVALID_ARGUMENT on ``field`` when that passes 9999-12-31
    or precedes 0001-01-01 (a default computed from a time the caller gave)."""
    try:
        return value + delta
    except OverflowError:
        raise invalid(
            field,
            f"{value.isoformat()} plus {delta} is outside 0001-01-01 to 9999-12-31",
        ) from None


@overload
def rfc3339(value: dt.datetime) -> str: ...
@overload
def rfc3339(value: dt.datetime | None) -> str | None: ...
def rfc3339(value: dt.datetime | None) -> str | None:
    """``2026-11-22T10:00:00Z`` (None stays None)."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
