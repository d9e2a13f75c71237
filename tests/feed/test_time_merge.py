"""``certseal events tail --since earliest`` printed the kept events topic by topic
(every licence event, then every key event...): the feed's subscription now lets what
it fetched go in one time order across its partitions (ties by topic, partition,
offset), each partition in its own offset order, with a bounded number held
(services/feed/merge.py; pure)."""

from __future__ import annotations

from dataclasses import dataclass

from services.feed.merge import TimeMerge

LICENCES, KEYS = "certseal.licence-events.v1", "certseal.trust-events.v1"


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    time: float


def _merge(behind, per_partition=500):
    return TimeMerge(
        behind,
        time_of=lambda r: r.time,
        offset_of=lambda r: r.offset,
        per_partition=per_partition,
    )


def _ids(records):
    return [(r.topic[9:12], r.partition, r.offset) for r in records]


def test_the_kept_events_of_two_topics_go_in_time_order():
    licences = [Rec(LICENCES, 0, n, t) for n, t in enumerate([10.0, 30.0, 50.0])]
    keys = [Rec(KEYS, 0, n, t) for n, t in enumerate([5.0, 40.0])]
    merge = _merge({(LICENCES, 0): 3, (KEYS, 0): 2})
    merge.add((LICENCES, 0), licences)  # fetched first, as a consumer does
    assert merge.take() == []  # the key topic, behind, may hold earlier events
    merge.reached((LICENCES, 0), 3)
    merge.add((KEYS, 0), keys)
    merge.reached((KEYS, 0), 2)
    assert [r.time for r in merge.take()] == [5.0, 10.0, 30.0, 40.0, 50.0]
    assert merge.held == 0


def test_ties_go_by_topic_partition_and_offset():
    merge = _merge({})
    merge.add((LICENCES, 1), [Rec(LICENCES, 1, 7, 1.0)])
    merge.add((KEYS, 0), [Rec(KEYS, 0, 3, 1.0)])
    merge.add((LICENCES, 0), [Rec(LICENCES, 0, 9, 1.0)])
    assert _ids(merge.take()) == [("lic", 0, 9), ("lic", 1, 7), ("tru", 0, 3)]


def test_a_partition_keeps_its_offset_order_whatever_its_times():
    """A token names a position per partition: an event let go before an earlier
    offset of its own partition would be skipped by a resume."""
    merge = _merge({})
    merge.add((LICENCES, 0), [Rec(LICENCES, 0, 0, 9.0), Rec(LICENCES, 0, 1, 1.0)])
    merge.add((KEYS, 0), [Rec(KEYS, 0, 0, 5.0)])
    assert _ids(merge.take()) == [("tru", 0, 0), ("lic", 0, 0), ("lic", 0, 1)]


def test_a_quiet_fetch_lets_everything_go_and_waits_no_more():
    merge = _merge({(LICENCES, 0): 10, (KEYS, 0): 10})
    merge.add((LICENCES, 0), [Rec(LICENCES, 0, 0, 2.0)])
    assert merge.take() == []
    assert _ids(merge.take(quiet=True)) == [("lic", 0, 0)]
    merge.add((LICENCES, 0), [Rec(LICENCES, 0, 1, 3.0)])  # no wait for KEYS since
    assert _ids(merge.take()) == [("lic", 0, 1)]


def test_new_events_are_not_held_back_once_caught_up():
    merge = _merge({(KEYS, 0): 1})
    merge.reached((KEYS, 0), 1)
    merge.add((LICENCES, 0), [Rec(LICENCES, 0, 5, 100.0)])
    assert _ids(merge.take()) == [("lic", 0, 5)]


def test_a_partition_holding_its_most_is_full_until_some_go():
    merge = _merge({(LICENCES, 0): 100, (KEYS, 0): 100}, per_partition=3)
    merge.add((LICENCES, 0), [Rec(LICENCES, 0, n, float(n)) for n in range(3)])
    assert merge.full() == {(LICENCES, 0)} and merge.take() == []
    merge.add((KEYS, 0), [Rec(KEYS, 0, 0, 0.5)])
    assert _ids(merge.take()) == [("lic", 0, 0), ("tru", 0, 0)]  # KEYS empty again
    assert merge.full() == set()


def test_a_records_time_is_its_ce_time_else_its_kafka_timestamp():
    from types import SimpleNamespace

    from services.feed.merge import record_time

    record = SimpleNamespace(timestamp=1_700_000_000_500)
    assert record_time((record, {"ce_time": "2023-11-14T22:13:21Z"})) == 1_700_000_001.0
    assert record_time((record, {})) == 1_700_000_000.5
    assert record_time((record, {"ce_time": "not a time"})) == 1_700_000_000.5
