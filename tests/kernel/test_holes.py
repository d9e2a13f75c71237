"""Holes in a partition's offsets (certseal/holes.py): a reader applies the
records before a hole near the head, reads again from the hole until it fills, and
goes past it only after it settled (never, for the claims reader); a hole far below
the high water (compaction) is gone past at once. The real broker's holes are in
tests/verifier/test_holes_broker.py."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import pytest

from certseal.holes import HEAD_WINDOW, YOUNG_S, OffsetHoles


@dataclass(frozen=True)
class Msg:
    offset: int


@dataclass(frozen=True)
class Stamped:
    offset: int
    timestamp: int  # ms since the epoch, as aiokafka's ConsumerRecord


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def WALL() -> float:  # records without a timestamp: every hole may be a race's
    raise AssertionError("no timestamp to compare")


def msgs(*offsets: int) -> list[Msg]:
    return [Msg(o) for o in offsets]


def offsets(cut) -> list[int]:
    return [m.offset for m in cut.records]


def test_contiguous_records_are_all_taken_and_the_next_offset_expected():
    holes = OffsetHoles("t", clock=Clock(), wall=WALL)
    holes.expect(0, 5)
    cut = holes.cut(0, msgs(5, 6, 7), high_water=8)
    assert (offsets(cut), cut.seek_to) == ([5, 6, 7], None)
    assert holes.expected[0] == 8


def test_a_hole_near_the_head_cuts_the_fetch_and_is_read_again_until_it_fills():
    clock = Clock()
    holes = OffsetHoles("t", clock=clock, wall=WALL)
    holes.expect(0, 10)
    cut = holes.cut(0, msgs(10, 11, 13, 14), high_water=15)
    assert (offsets(cut), cut.seek_to) == ([10, 11], 12)
    assert holes.expected[0] == 12
    clock.now += 0.5  # still within the settle time: read again
    cut = holes.cut(0, msgs(13, 14), high_water=15)
    assert (offsets(cut), cut.seek_to) == ([], 12)
    cut = holes.cut(0, msgs(12, 13, 14), high_water=15)  # filled
    assert (offsets(cut), cut.seek_to) == ([12, 13, 14], None)
    assert holes.expected[0] == 15
    assert holes.gone_past == 0


def test_a_hole_that_stays_is_gone_past_after_it_settled_with_a_warning(caplog):
    clock = Clock()
    holes = OffsetHoles("licence index", clock=clock, wall=WALL, settle_s=1.0)
    holes.expect(3, 0)
    assert holes.cut(3, msgs(0, 2), high_water=3).seek_to == 1
    clock.now += 0.999
    assert holes.cut(3, msgs(2), high_water=3).seek_to == 1
    clock.now += 0.002
    with caplog.at_level(logging.WARNING, logger="certseal.holes"):
        cut = holes.cut(3, msgs(2), high_water=3)
    assert (offsets(cut), cut.seek_to) == ([2], None)
    assert holes.gone_past == 1
    [warning] = [r.getMessage() for r in caplog.records]
    assert "licence index" in warning and "offsets 1..1 of partition 3" in warning


def test_a_hole_far_below_the_high_water_is_compaction_gone_past_unlogged(caplog):
    holes = OffsetHoles("t", clock=Clock(), wall=WALL)
    holes.expect(0, 0)
    with caplog.at_level(logging.WARNING, logger="certseal.holes"):
        cut = holes.cut(0, msgs(0, 5, 9), high_water=HEAD_WINDOW + 100)
    assert (offsets(cut), cut.seek_to) == ([0, 5, 9], None)
    assert holes.gone_past == 2
    assert not caplog.records


def test_with_an_unknown_high_water_every_hole_is_near_the_head():
    holes = OffsetHoles("t", clock=Clock(), wall=WALL)
    holes.expect(0, 0)
    assert holes.cut(0, msgs(0, 5), high_water=None).seek_to == 1


def test_a_reader_that_never_goes_past_a_hole_waits_for_it_forever():
    clock = Clock()
    holes = OffsetHoles("t", clock=clock, wall=WALL, settle_s=math.inf)
    holes.expect(0, 0)
    for _ in range(3):
        clock.now += 1e6
        assert holes.cut(0, msgs(1), high_water=2).seek_to == 0


def test_an_unknown_position_takes_whatever_comes_then_expects_after_it():
    holes = OffsetHoles("t", clock=Clock(), wall=WALL)
    assert offsets(holes.cut(0, msgs(7, 8), high_water=9)) == [7, 8]
    assert holes.cut(0, msgs(10), high_water=11).seek_to == 9
    holes.forget(0)
    assert offsets(holes.cut(0, msgs(10), high_water=11)) == [10]


def test_partitions_are_apart_and_a_seek_forgets_the_wait():
    clock = Clock()
    holes = OffsetHoles("t", clock=clock, wall=WALL)
    holes.expect(0, 0)
    holes.expect(1, 0)
    assert holes.cut(0, msgs(1), high_water=2).seek_to == 0
    assert offsets(holes.cut(1, msgs(0, 1), high_water=2)) == [0, 1]
    clock.now += 0.9
    holes.expect(0, 0)  # a seek: the wait starts again
    clock.now += 0.9
    assert holes.cut(0, msgs(1), high_water=2).seek_to == 0


def test_partitions_a_reader_no_longer_holds_are_forgotten():
    holes = OffsetHoles("t", clock=Clock(), wall=WALL)
    holes.expect(0, 5)
    holes.expect(1, 5)
    holes.keep_only({1})
    assert offsets(holes.cut(0, msgs(9), high_water=10)) == [9]  # anything goes
    assert holes.cut(1, msgs(9), high_water=10).seek_to == 5


def test_a_hole_before_a_record_appended_long_ago_is_no_race_gone_past_unlogged(
    caplog,
):
    """Compaction's holes in a small topic are all near the head: the age of the
    record after a hole tells them from a race's (which fills within ms)."""
    now_s = 1_800_000_000.0
    holes = OffsetHoles("t", clock=Clock(), wall=lambda: now_s)
    holes.expect(0, 0)
    old_ms = int((now_s - YOUNG_S - 1) * 1000)
    with caplog.at_level(logging.WARNING, logger="certseal.holes"):
        cut = holes.cut(0, [Stamped(o, old_ms) for o in (0, 2, 4)], high_water=5)
    assert (offsets(cut), cut.seek_to) == ([0, 2, 4], None)
    assert (holes.gone_past, holes.met, holes.waiting) == (2, 0, False)
    assert not caplog.records


def test_a_hole_before_a_young_record_or_one_from_ahead_is_waited_for():
    now_s = 1_800_000_000.0
    for age_s in (YOUNG_S - 1, -30.0):  # a producer's clock ahead of the reader's
        holes = OffsetHoles("t", clock=Clock(), wall=lambda: now_s)
        holes.expect(0, 0)
        stamp = int((now_s - age_s) * 1000)
        cut = holes.cut(0, [Stamped(0, stamp), Stamped(2, stamp)], high_water=3)
        assert (offsets(cut), cut.seek_to, holes.waiting) == ([0], 1, True)


def test_an_expectation_under_a_key_of_another_type_is_refused_not_forgotten():
    """The licence index noted where it resumed under a partition's number while its
    fetches were cut by TopicPartition: the expectation was silently dropped."""
    holes = OffsetHoles("licence index", clock=Clock(), wall=WALL)
    holes.expect(3, 0)
    with pytest.raises(TypeError, match="licence index: partition 3"):
        holes.keep_only({("topic", 3)})
