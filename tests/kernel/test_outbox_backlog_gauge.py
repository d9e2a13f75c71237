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


class Clock:
    """A monotonic clock the test moves (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lag_of(metrics: Metrics) -> float:
    """The relay-lag gauge as a scrape reads it."""
    return metrics.relay_lag.collect()[0].samples[0].value


async def _backlog(dsn: str, clock: Clock | None = None) -> tuple[float, Metrics]:
    metrics = Metrics(families=frozenset({"outbox"}))
    conn = await connect(dsn)
    try:
        await refresh_backlog_metrics(conn, metrics, clock or Clock())
    finally:
        await conn.close()
    return metrics.outbox_backlog._value.get(), metrics


async def test_a_backlog_is_counted_up_to_the_bound_then_spanned(config, monkeypatch):
    dsn = await fresh_database(config)
    backlog, metrics = await _backlog(dsn)
    assert (backlog, lag_of(metrics)) == (0.0, 0.0)
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
    backlog, metrics = await _backlog(dsn)
    assert backlog == 5 and lag_of(metrics) > 0.0  # counted: the rows themselves
    monkeypatch.setattr(outbox, "BACKLOG_COUNTED_UP_TO", 3)
    backlog, metrics = await _backlog(dsn)
    assert backlog == 6 and lag_of(metrics) > 0.0  # past the bound: the span, the gap


async def test_the_lag_grows_between_reads(config):
    """trial54: a relay held in a round with its broker away reads no gauge, and its
    lag stood still while the rows waited on; it now grows from the last read."""
    dsn = await fresh_database(config)
    await commit_rows(dsn, "no-such-topic", [b"a"])
    clock = Clock()
    _backlog_now, metrics = await _backlog(dsn, clock)
    read = lag_of(metrics)
    clock.now += 60.0
    assert lag_of(metrics) == pytest.approx(read + 60.0)
    _empty, none_waiting = await _backlog(await fresh_database(config), clock)
    clock.now += 60.0
    assert lag_of(none_waiting) == 0.0  # nothing waits: no age
