"""A service's readiness names what did not answer (trial: "PostgreSQL or the broker
did not answer within 3 s" did not say which)."""

from __future__ import annotations

import asyncio

from certseal.readiness import not_ready

PLACES = ("/tmp/pg/.s.PGSQL.5432", "127.0.0.1:9092")
NEEDED = {"certseal.licence-events.v1"}


async def _hangs() -> None:
    await asyncio.Event().wait()


async def _answers() -> None:
    return None


async def _topics() -> list[str]:
    return sorted(NEEDED)


async def _refused() -> list[str]:
    raise ConnectionRefusedError()


async def _why(database, topics, within_s: float = 0.05) -> str:
    async with asyncio.timeout(5):  # each is bounded: never near this
        return await not_ready(
            database, topics, NEEDED, places=PLACES, within_s=within_s
        )


async def test_a_ready_service_has_no_reason():
    assert await _why(_answers(), _topics()) == ""


async def test_the_one_that_did_not_answer_is_named_with_its_address():
    assert await _why(_hangs(), _topics()) == (
        "PostgreSQL (at /tmp/pg/.s.PGSQL.5432) did not answer within 0.05 s"
    )
    assert await _why(_answers(), _hangs()) == (
        "the broker (at 127.0.0.1:9092) did not answer within 0.05 s"
    )


async def test_both_silent_are_both_named():
    # asked side by side: PostgreSQL's silence does not hide the broker's
    assert await _why(_hangs(), _hangs()) == (
        "PostgreSQL (at /tmp/pg/.s.PGSQL.5432) and the broker (at 127.0.0.1:9092) "
        "did not answer within 0.05 s"
    )


async def test_a_failure_is_named_by_its_component_and_its_type():
    assert await _why(_answers(), _refused()) == (
        "the broker (at 127.0.0.1:9092): ConnectionRefusedError"
    )
    assert await _why(_hangs(), _refused()) == (
        "PostgreSQL (at /tmp/pg/.s.PGSQL.5432) did not answer within 0.05 s; "
        "the broker (at 127.0.0.1:9092): ConnectionRefusedError"
    )


async def test_missing_topics_are_said_once_both_answer():
    async def none() -> list[str]:
        return []

    assert await _why(_answers(), none()) == (
        "the broker lacks topics ['certseal.licence-events.v1']"
    )


async def test_an_address_not_shown_leaves_the_name_alone():
    why = await not_ready(_hangs(), _topics(), NEEDED, places=("", ""), within_s=0.05)
    assert why == "PostgreSQL did not answer within 0.05 s"
