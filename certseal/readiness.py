"""A service's readiness: PostgreSQL answers and the broker has the platform's topics,
each asked on its own bound, so that what did not answer is named with its address
(trial: "PostgreSQL or the broker did not answer within 3 s" left the operator to
find out which). :meth:`certseal.process.ServiceProcess._readiness` asks every 2 s."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection
from typing import TypeVar

T = TypeVar("T")


async def not_ready(
    database: Awaitable[object],
    topics: Awaitable[Collection[str]],
    needed: Collection[str],
    *,
    places: tuple[str, str],
    within_s: float = 3.0,
) -> str:
    """Why the service is not ready ('' when it is): ``database`` (PostgreSQL's
    answer) and ``topics`` (the broker's topic names) awaited side by side, each
    within ``within_s`` seconds; ``places``: PostgreSQL's address and the broker's
    (as may be shown: '' for none). Each one that did not answer, or failed, is
    named; then any topic of ``needed`` the broker lacks."""

    async def bounded(work: Awaitable[T]) -> T:
        async with asyncio.timeout(within_s):
            return await work

    answers = await asyncio.gather(
        bounded(database), bounded(topics), return_exceptions=True
    )
    names = [
        f"{what} (at {place})" if place else what
        for what, place in zip(("PostgreSQL", "the broker"), places, strict=True)
    ]
    silent = [n for n, a in zip(names, answers, strict=True) if _timed_out(a)]
    said = [f"{' and '.join(silent)} did not answer within {within_s:g} s"] * bool(
        silent
    )
    said += [
        f"{name}: {str(answer) or type(answer).__name__}"
        for name, answer in zip(names, answers, strict=True)
        if isinstance(answer, BaseException) and not _timed_out(answer)
    ]
    listed = answers[1]
    if said or isinstance(listed, BaseException):
        return "; ".join(said)
    missing = set(needed) - set(listed)
    return f"the broker lacks topics {sorted(missing)}" if missing else ""


def _timed_out(answer: object) -> bool:
    return isinstance(answer, TimeoutError)
