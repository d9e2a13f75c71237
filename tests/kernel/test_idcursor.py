"""IdCursor's arithmetic (certseal/storage/idcursor.py): which ids are read again,
when a gap settles, what a limited read looked at, and the position it gives."""

from __future__ import annotations

import pytest

from certseal.storage import idcursor
from certseal.storage.idcursor import Gap, IdCursor


def test_a_fresh_cursor_reads_from_its_position():
    cursor = IdCursor.at(10)
    assert (cursor.read_to, cursor.next_id, cursor.ranges()) == (9, 10, ([], []))


def test_missing_ids_below_the_highest_read_are_gaps_until_settled():
    cursor = IdCursor.at(1).after(
        [1, 4, 5, 9], xmin=100, horizon=105, limit_reached=False
    )
    assert cursor.read_to == 9
    assert cursor.gaps == (Gap(2, 3, 105), Gap(6, 8, 105))
    assert cursor.next_id == 2
    assert cursor.ranges() == ([2, 6], [3, 8])
    # 3 appears; the rest is missing while a transaction below 105 may still run
    cursor = cursor.after([3], xmin=104, horizon=107, limit_reached=False)
    assert cursor.gaps == (Gap(2, 2, 105), Gap(6, 8, 105))
    assert cursor.read_to == 9
    # every transaction below 105 ended: what is still missing never commits
    cursor = cursor.after([7, 12], xmin=105, horizon=110, limit_reached=False)
    assert cursor.gaps == (Gap(10, 11, 110),)
    assert cursor.next_id == 10


def test_a_gap_settles_only_at_a_later_read():
    """A read's own horizon is a transaction id it took after its snapshot: its gaps
    wait for a later snapshot whose oldest running transaction is past it."""
    cursor = IdCursor.at(1).after([1, 3], xmin=50, horizon=50, limit_reached=False)
    assert cursor.gaps == (Gap(2, 2, 50),)
    assert cursor.after([], xmin=51, horizon=52, limit_reached=False).next_id == 4


def test_a_limited_read_keeps_what_it_did_not_look_at():
    cursor = IdCursor(read_to=20, gaps=(Gap(2, 3, 90), Gap(15, 16, 90)))
    # the read stopped at its limit at id 5: the gap 15-16 was not looked at, even
    # with every transaction that could hold it ended
    after = cursor.after([2, 5], xmin=95, horizon=99, limit_reached=True)
    assert after.gaps == (Gap(15, 16, 90),)
    assert after.read_to == 20
    # a limited read that took new ids: nothing above the last was looked at
    fresh = IdCursor.at(1).after([1, 2, 4], xmin=10, horizon=12, limit_reached=True)
    assert (fresh.read_to, fresh.gaps) == (4, (Gap(3, 3, 12),))


def test_a_gap_split_by_a_limit_keeps_its_unseen_part():
    cursor = IdCursor(read_to=30, gaps=(Gap(2, 20, 90),))
    after = cursor.after([4], xmin=80, horizon=99, limit_reached=True)
    assert after.gaps == (Gap(2, 3, 90), Gap(5, 20, 90))


def test_rows_not_finished_are_read_again_and_hold_the_position():
    again = IdCursor.at(1).after(
        [1, 2, 3], xmin=6, horizon=7, limit_reached=False, unfinished={2}
    )
    assert again.next_id == 2 and again.ranges() == ([2], [2])
    # read again: done; a row gone meanwhile settles like any gap
    assert again.after([2], xmin=7, horizon=8, limit_reached=False).next_id == 4
    assert again.after([], xmin=7, horizon=8, limit_reached=False).next_id == 4
    assert again.after([], xmin=6, horizon=8, limit_reached=False).next_id == 2


def test_ids_out_of_order_are_refused():
    with pytest.raises(ValueError, match="ascending"):
        IdCursor.at(1).after([3, 2], xmin=1, horizon=1, limit_reached=False)


def test_too_many_gaps_are_joined_closest_first(monkeypatch):
    monkeypatch.setattr(idcursor, "MAX_GAPS", 3)
    ids = [1, 3, 4, 5, 7, 9, 10, 11, 12, 14]  # gaps 2, 6, 8, 13
    cursor = IdCursor.at(1).after(ids, xmin=5, horizon=9, limit_reached=False)
    assert cursor.gaps == (Gap(2, 2, 9), Gap(6, 8, 9), Gap(13, 13, 9))
    assert cursor.joined == ((7, 7),)  # read in between: the relay marks it
    # a joined gap keeps the latest horizon
    again = cursor.after([16], xmin=5, horizon=12, limit_reached=False)  # gap 15
    assert again.gaps == (Gap(2, 2, 9), Gap(6, 8, 9), Gap(13, 15, 12))
    assert again.joined == ((14, 14),)


def test_a_row_not_finished_in_a_joined_or_settled_gap_stays_in_one_gap(monkeypatch):
    """Rows not finished are computed with the read, never added after it as gaps
    inside another: two overlapping gaps were once joined short, and an id held
    by an open transaction fell out of every gap (tests/kernel/
    test_atk53_positions.py)."""
    monkeypatch.setattr(idcursor, "MAX_GAPS", 2)
    ids = [2, 4, 6, 8]  # gaps 1, 3, 5, 7: joined into two
    cursor = IdCursor.at(1).after(
        ids, xmin=5, horizon=9, limit_reached=False, unfinished=set(ids)
    )
    assert cursor.gaps == (Gap(1, 8, 9),) or all(
        a.hi < b.lo for a, b in zip(cursor.gaps, cursor.gaps[1:], strict=False)
    )
    covered = {i for g in cursor.gaps for i in range(g.lo, g.hi + 1)}
    assert covered >= {1, 2, 3, 4, 5, 6, 7, 8}
    assert cursor.joined == ()  # nothing finished in between: nothing to mark
    # a settled gap keeps only the rows read in it and not finished
    settled = IdCursor(read_to=20, gaps=(Gap(2, 9, 4),)).after(
        [3, 5, 6, 8], xmin=5, horizon=9, limit_reached=False, unfinished={5, 6}
    )
    assert settled.gaps == (Gap(5, 6, 9),)


def test_done_is_read_and_in_no_gap():
    """What the relay counts as sent again after a republish (atk54)."""
    cursor = IdCursor(read_to=20, gaps=(Gap(3, 3, 1), Gap(7, 9, 1)))
    done = [i for i in range(1, 23) if cursor.done(i)]
    assert done == [1, 2, 4, 5, 6, *range(10, 21)]
    assert [i for i in range(1, 5) if IdCursor.at(3).done(i)] == [1, 2]
