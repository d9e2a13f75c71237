"""Each caller's refusal rows are bounded a minute (certseal.audit.RefusalBudget):
the first REFUSAL_ROWS_PER_MINUTE are written one row each, the rest counted and
written as ONE summary row when the caller's minute ends, so every refusal is in the
log and a caller repeating a refused call cannot fill it."""

import datetime as dt

from certseal.audit import (
    COUNTED_ACTION,
    REFUSAL_ROWS_PER_MINUTE,
    REFUSAL_WINDOW,
    RefusalBudget,
)

T0 = dt.datetime(2026, 12, 5, 4, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


def test_a_callers_first_rows_are_written_and_the_rest_counted_into_one_row():
    budget = RefusalBudget()
    admitted = [
        budget.admit("dept:A", "department.roles", T0 + i * SECOND / 100)
        for i in range(REFUSAL_ROWS_PER_MINUTE + 5)
    ]
    assert admitted == [True] * REFUSAL_ROWS_PER_MINUTE + [False] * 5
    assert budget.counting("dept:A") == 5
    assert budget.next_end() == T0 + REFUSAL_WINDOW
    # nothing is due before the minute ends
    assert budget.due(T0 + REFUSAL_WINDOW - SECOND) == []
    [row] = budget.due(T0 + REFUSAL_WINDOW)
    assert (row.actor, row.action, row.subject, row.outcome) == (
        "dept:A",
        COUNTED_ACTION,
        "-",
        "denied",
    )
    last = T0 + (REFUSAL_ROWS_PER_MINUTE + 4) * SECOND / 100
    # dated when it is written (the minute's end), so a reader of the rows since
    # its last look finds it (trial35)
    assert row.occurred_at == T0 + REFUSAL_WINDOW
    assert row.details["counted"] == 5
    assert (
        row.details["from"] == (T0 + REFUSAL_ROWS_PER_MINUTE * SECOND / 100).isoformat()
    )
    assert row.details["to"] == last.isoformat()
    assert row.details["actions"] == {"department.roles": 5}
    assert row.details["why"].startswith("5 refused calls of this caller, from ")
    # the minute is forgotten once taken; the next minute writes rows again
    assert budget.due(T0 + 2 * REFUSAL_WINDOW) == []
    assert budget.next_end() is None
    assert budget.admit("dept:A", "department.roles", T0 + REFUSAL_WINDOW + SECOND)


def test_a_counted_minute_counts_each_action_and_stays_counting_until_taken():
    budget = RefusalBudget(rows=1)
    assert budget.admit("dept:A", "key.create", T0)
    assert not budget.admit("dept:A", "key.create", T0 + SECOND)
    assert not budget.admit("dept:A", "seal.register", T0 + 2 * SECOND)
    # past the minute's end but not yet taken: still counted in that minute
    assert not budget.admit("dept:A", "key.create", T0 + REFUSAL_WINDOW + SECOND)
    [row] = budget.due(T0 + REFUSAL_WINDOW + SECOND)
    assert row.details["counted"] == 3
    assert row.details["actions"] == {"key.create": 2, "seal.register": 1}


def test_callers_are_bounded_apart():
    budget = RefusalBudget(rows=2)
    for caller in ("dept:A", "dept:B"):
        assert budget.admit(caller, "x", T0)
        assert budget.admit(caller, "x", T0)
    assert not budget.admit("dept:A", "x", T0)
    assert budget.counting("dept:A") == 1
    assert budget.counting("dept:B") == 0
    assert [r.actor for r in budget.due(T0 + REFUSAL_WINDOW)] == ["dept:A"]


def test_a_quiet_minute_ends_without_a_row_and_a_new_one_begins():
    budget = RefusalBudget(rows=2)
    assert budget.admit("dept:A", "x", T0)
    assert budget.admit("dept:A", "x", T0 + SECOND)
    assert budget.due(T0 + REFUSAL_WINDOW) == []
    # a new minute from the next refusal: two rows again
    assert budget.admit("dept:A", "x", T0 + REFUSAL_WINDOW)
    assert budget.admit("dept:A", "x", T0 + REFUSAL_WINDOW)
    assert not budget.admit("dept:A", "x", T0 + REFUSAL_WINDOW)


def test_a_stopping_process_takes_the_minutes_not_yet_ended():
    budget = RefusalBudget(rows=1)
    budget.admit("dept:A", "x", T0)
    budget.admit("dept:A", "x", T0)
    assert budget.due(T0) == []
    [row] = budget.due(T0, all_counted=True)
    assert row.details["counted"] == 1
    assert budget.due(T0, all_counted=True) == []


def test_past_the_callers_it_follows_a_refusal_is_written_as_it_comes():
    budget = RefusalBudget(rows=1, callers=2)
    assert budget.admit("dept:A", "x", T0)
    assert budget.admit("dept:B", "x", T0)
    assert budget.admit("dept:C", "x", T0)  # not followed: written
    assert budget.admit("dept:C", "x", T0)
    # once A's and B's minutes ended quietly they are forgotten and C is followed
    W = REFUSAL_WINDOW
    assert budget.admit("dept:C", "x", T0 + W)
    assert not budget.admit("dept:C", "x", T0 + W)
    assert budget.admit("dept:D", "x", T0 + W)
    assert not budget.admit("dept:D", "x", T0 + W)
    assert [r.actor for r in budget.due(T0 + 2 * W)] == ["dept:C", "dept:D"]
    # a caller counting is never forgotten to make room: E is not followed
    assert budget.admit("dept:C", "x", T0 + 2 * W)
    assert not budget.admit("dept:C", "x", T0 + 2 * W)
    assert budget.admit("dept:D", "x", T0 + 2 * W)
    assert budget.admit("dept:E", "x", T0 + 2 * W)
    assert budget.admit("dept:E", "x", T0 + 2 * W)
    assert budget.counting("dept:E") == 0
    assert budget.counting("dept:C") == 1
