"""The protobuf and RFC 3339 forms of an instant, at and around their edges.

``certseal/timestamps.py``: a protobuf Timestamp counts whole seconds since the epoch
(floored, so an instant before 1970 has negative seconds and non-negative nanos) plus
nanos; an unset Timestamp (0 s, 0 ns) is None, so the epoch itself cannot be sent.
"""

import datetime as dt

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from certseal.timestamps import from_ts, rfc3339, ts, utcnow

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("value", "seconds", "nanos"),
    [
        (EPOCH - US, -1, 999_999_000),
        (EPOCH, 0, 0),
        (EPOCH + US, 0, 1000),
        (EPOCH + dt.timedelta(seconds=1) - US, 0, 999_999_000),
        (EPOCH + dt.timedelta(seconds=1), 1, 0),
        (
            dt.datetime(2026, 6, 1, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
            1780315200,
            0,
        ),
    ],
)
def test_ts_at_second_boundaries(value, seconds, nanos):
    assert ts(value) == Timestamp(seconds=seconds, nanos=nanos)


def test_ts_of_none_is_none():
    assert ts(None) is None


@pytest.mark.parametrize(
    ("seconds", "nanos", "value"),
    [
        (0, 0, None),  # unset
        (0, 1000, EPOCH + US),
        (0, 1, EPOCH),  # below a microsecond, but set
        (-1, 999_999_000, EPOCH - US),
        (1, 0, EPOCH + dt.timedelta(seconds=1)),
    ],
)
def test_from_ts_around_the_unset_value(seconds, nanos, value):
    result = from_ts(Timestamp(seconds=seconds, nanos=nanos))
    assert result == value
    if result is not None:
        assert result.utcoffset() == dt.timedelta(0)


def test_rfc3339_in_utc_with_a_z():
    plus8 = dt.timezone(dt.timedelta(hours=8))
    assert (
        rfc3339(dt.datetime(2026, 11, 23, 2, 0, tzinfo=plus8)) == "2026-11-22T18:00:00Z"
    )
    assert rfc3339(EPOCH - US) == "1969-12-31T23:59:59.999999Z"
    assert rfc3339(None) is None


def test_the_clock_is_utc():
    assert utcnow().utcoffset() == dt.timedelta(0)
