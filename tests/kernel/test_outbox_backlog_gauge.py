"""The backlog gauge counts a small backlog exactly and a large one by the span of
its ids, so that reading it never holds a relay's session for long
(certseal.storage.outbox.BACKLOG_COUNTED_UP_TO): counting millions of rows one by one
would take longer than a leader's bound on a statement, and the relay would let go of
its lead for a gauge."""

from __future__ import annotations

import pytest

from certseal.events import OutboxRecord
from certseal.metrics import Metrics
from certseal.storage import outbox
from certseal.storage.outbox import refresh_backlog_metrics, write_outbox
from certseal.storage.pool import connect
from tests.kernel.test_outbox_relay import commit_rows, fresh_database


async def _backlog(dsn: str) -> tuple[float, float]:
    metrics = Metrics(families=frozenset({"outbox"}))
    conn = await connect(dsn)
    try:
        await refresh_backlog_metrics(conn, metrics)
    finally:
        await conn.close()
    return metrics.outbox_backlog._value.get(), metrics.relay_lag._value.get()


async def test_a_backlog_is_counted_up_to_the_bound_then_spanned(config, monkeypatch):
    dsn = await fresh_database(config)
    assert await _backlog(dsn) == (0.0, 0.0)
    await commit_rows(dsn, "no-such-topic", [b"a", b"b"])
    conn = await connect(dsn)
    try:  # a rolled-back row takes an id: a gap in the span
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await write_outbox(conn, [OutboxRecord("no-such-topic", b"x", b"", {})])
                raise RuntimeError("rolled back")
    finally:
        await conn.close()
    await commit_rows(dsn, "no-such-topic", [b"c", b"d", b"e"])
    backlog, lag = await _backlog(dsn)
    assert backlog == 5 and lag > 0.0  # counted: the rows themselves
    monkeypatch.setattr(outbox, "BACKLOG_COUNTED_UP_TO", 3)
    backlog, lag = await _backlog(dsn)
    assert backlog == 6 and lag > 0.0  # past the bound: the span, the gap in it
