"""atk35 (outside review): certseal.audit.RefusalBudget under a clock that steps
back. The refusals are counted (none is lost), but the summary row says they ran
from a later time to an earlier one."""

from __future__ import annotations

import datetime as dt

from certseal.audit import RefusalBudget

T0 = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


def test_a_summary_spans_its_counted_refusals_when_the_clock_steps_back():
    budget = RefusalBudget(rows=1)
    actor = "dept:atk35"
    assert budget.admit(actor, "key.create", T0)  # written
    later, earlier = T0 + dt.timedelta(seconds=30), T0 + dt.timedelta(seconds=10)
    assert not budget.admit(actor, "key.create", later)  # counted
    assert not budget.admit(actor, "key.create", earlier)  # counted, clock stepped
    [row] = budget.due(T0 + dt.timedelta(minutes=1))
    assert row.details["counted"] == 2
    # the span covers both counted refusals: from the earliest to the latest
    assert row.details["from"] == earlier.isoformat()
    assert row.details["to"] == later.isoformat()
    assert row.occurred_at == T0 + dt.timedelta(minutes=1)  # when written
