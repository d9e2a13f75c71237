"""atk19: what a starting worker says of its trust and directory tables' start gate
(services/verifier/tables.py) at its default level (warn): docs/operations.md named two
INFO lines an operator never saw. While the gate waits, a warning every ``SLOW_S``
names the partitions still behind."""

from __future__ import annotations

import asyncio
import logging

from services.verifier import tables
from services.verifier.index import Freshness

TRUST = "certseal.trust-events.v1"


class _Said(logging.Handler):
    """The warnings a logger emitted, and an event set at each."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.new = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.new.set()


async def test_a_worker_at_its_default_level_says_what_its_start_gate_waits_for(
    monkeypatch,
):
    async def ends(*_args, **_kw):
        return {(TRUST, 0): 3}

    monkeypatch.setattr(tables, "ends_to_read", ends)
    monkeypatch.setattr(tables, "SLOW_S", 0.01)
    said = _Said()
    logger = logging.getLogger("services.verifier.tables")
    logger.addHandler(said)
    try:
        freshness = Freshness()
        freshness.recovered.set()
        gate = asyncio.create_task(
            tables.read_through_start(None, "g", ("t",), freshness)  # type: ignore[arg-type]
        )
        await asyncio.wait_for(said.new.wait(), 5)
        assert not gate.done()
        assert f"still reading {TRUST}/0 to their end offsets" in said.lines[0]
        assert "not ready" in said.lines[0]
        freshness.note(TRUST, 0, 2, 0.0)
        await asyncio.wait_for(gate, 5)
    finally:
        logger.removeHandler(said)
    assert freshness.tables_read.is_set()
