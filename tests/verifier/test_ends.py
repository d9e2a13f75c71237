"""When a worker asks its broker for the end offsets (services/verifier/ends.py): the
start gate waits for the first answer, so while the worker's partitions are being
assigned it asks again after FIRST_ASK_RETRY_S, not a whole interval later (a start
was up to a second later for it). The asks against a real broker, and a broker that
stops answering, are tests/e2e/test_verifier_cut_off.py; here the loop's cadence, with
stand-ins for the two consumers' assignment and answers."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from aiokafka.structs import TopicPartition

from certseal.events import LICENCE_EVENTS, TRUST_EVENTS
from services.verifier.ends import CONFIRM_EVERY_S, FIRST_ASK_RETRY_S, confirm_ends
from services.verifier.index import Freshness

T0 = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
TRUST = TopicPartition(TRUST_EVENTS, 0)
LICENCES = TopicPartition(LICENCE_EVENTS, 3)


class _Assigning:
    """Faust's consumer whose trust partition is assigned after ``unassigned`` asks."""

    def __init__(self, unassigned: int):
        self.unassigned = unassigned

    def assignment(self) -> set[TopicPartition]:
        if self.unassigned:
            self.unassigned -= 1
            return set()
        return {TRUST}

    async def highwaters(self, *tps: TopicPartition) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 7)


class _LicenceConsumer:
    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 40)


class _Feed:
    consumer = _LicenceConsumer()

    def assignment(self) -> list[TopicPartition]:
        return [LICENCES]


async def test_the_first_ask_is_retried_soon_while_partitions_are_assigned():
    freshness = Freshness()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 5:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await confirm_ends(
            _Assigning(unassigned=3),
            _Feed(),  # type: ignore[arg-type]
            freshness,
            clock=lambda: T0,
            monotonic=lambda: 100.0,
            sleep=sleep,
        )
    # three asks found nothing assigned: each retried soon; then every interval
    assert slept == [FIRST_ASK_RETRY_S] * 3 + [CONFIRM_EVERY_S] * 2
    assert FIRST_ASK_RETRY_S <= CONFIRM_EVERY_S / 10
    assert freshness.lag_confirmed.is_set()
    assert freshness.ends == {(TRUST_EVENTS, 0): 7, (LICENCE_EVENTS, 3): 40}
    assert freshness.lag_measured_at == T0 and freshness.confirmed_monotonic_s == 100.0


class _Failing(_Assigning):
    """Assigned, but the broker's answer fails with an error that is a LookupError."""

    async def highwaters(self, *tps: TopicPartition) -> dict[TopicPartition, int]:
        raise KeyError("broken answer")


async def test_an_ask_that_fails_waits_the_whole_interval_and_says_so(caplog):
    """Only partitions not assigned yet are asked again soon: a failed ask (here a
    KeyError from the client) waits the interval, logged once (atk22: any
    LookupError was retried 20 times a second, silently)."""
    freshness = Freshness()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await confirm_ends(
            _Failing(unassigned=0),
            _Feed(),  # type: ignore[arg-type]
            freshness,
            clock=lambda: T0,
            sleep=sleep,
        )
    assert slept == [CONFIRM_EVERY_S] * 3
    assert not freshness.lag_confirmed.is_set()
    warnings = [r for r in caplog.records if "end offsets" in r.getMessage()]
    assert len(warnings) == 1 and "broken answer" in warnings[0].getMessage()
