"""A subscription's held entitlement (services/feed/rights.py): re-read every refresh,
kept through a moment the database does not answer (atk60: a quiet stream ended at
the first failed read), ended by a refusal or by a database away for too long."""

from __future__ import annotations

import asyncpg
import pytest

from certseal.errors import CertsealError, denied
from services.feed.domain import Entitlement
from services.feed.rights import STALE_S, HeldRights

FIRST = Entitlement(
    "integrator:a", frozenset({"*"}), frozenset({"*"}), frozenset({"*"})
)
NARROWER = Entitlement(
    "integrator:a", frozenset({"*"}), frozenset(), frozenset({"seal.*"})
)


class Reads:
    """What each read gives, in turn: an entitlement or an exception to raise."""

    def __init__(self, *answers: object):
        self.answers, self.count = list(answers), 0

    async def __call__(self) -> Entitlement:
        self.count += 1
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, Entitlement)
        return answer


async def test_it_reads_again_once_the_refresh_has_passed():
    now = [0.0]
    reads = Reads(NARROWER)
    rights = HeldRights(reads, FIRST, 5.0, lambda: now[0])
    now[0] = 4.9
    assert await rights.now() is FIRST and reads.count == 0
    now[0] = 5.0
    assert await rights.now() is NARROWER and reads.count == 1


async def test_a_database_away_for_a_moment_keeps_the_last_one():
    now = [0.0]
    lost = asyncpg.exceptions.ConnectionDoesNotExistError("closed")
    reads = Reads(lost, lost, NARROWER)
    rights = HeldRights(reads, FIRST, 5.0, lambda: now[0])
    for at in (5.0, 10.0):
        now[0] = at
        assert await rights.now() is FIRST
    now[0] = 15.0
    assert await rights.now() is NARROWER and reads.count == 3


async def test_a_database_away_too_long_ends_the_stream():
    now = [0.0]
    lost = asyncpg.exceptions.ConnectionDoesNotExistError("closed")
    rights = HeldRights(Reads(lost, lost), FIRST, 5.0, lambda: now[0])
    now[0] = STALE_S - 1
    assert await rights.now() is FIRST
    now[0] = STALE_S + 4  # its next read, past the bound
    with pytest.raises(asyncpg.exceptions.ConnectionDoesNotExistError):
        await rights.now()


@pytest.mark.parametrize(
    "refusal", [denied("every right was withdrawn", field="as"), RuntimeError("bug")]
)
async def test_a_refusal_or_a_fault_ends_it_at_once(refusal):
    now = [5.0]
    rights = HeldRights(Reads(refusal), FIRST, 5.0, lambda: now[0])
    now[0] = 10.0
    with pytest.raises(type(refusal)):
        await rights.now()
    assert not isinstance(refusal, CertsealError) or refusal.kind.value == (
        "PERMISSION_DENIED"
    )


async def test_an_entitlement_read_again_that_fails_the_check_ends_it():
    """``check`` is given each fresh read; its refusal ends the stream (the feed's:
    a narrowed entitlement no longer covering the filter), and a later call does not
    hand out the refused entitlement as held."""
    now = [0.0]
    checked: list[Entitlement] = []

    def check(fresh: Entitlement) -> None:
        checked.append(fresh)
        if fresh is NARROWER:
            raise denied("no longer covered", field="event_types")

    rights = HeldRights(Reads(FIRST, NARROWER), FIRST, 5.0, lambda: now[0], check)
    now[0] = 5.0
    assert await rights.now() is FIRST
    now[0] = 10.0
    with pytest.raises(CertsealError) as ended:
        await rights.now()
    assert ended.value.field == "event_types"
    assert checked == [FIRST, NARROWER]
    assert await rights.now() is FIRST  # within the refresh: not read, not NARROWER
