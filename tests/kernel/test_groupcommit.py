"""certseal.groupcommit: requests of the same moment go in one group per key; a
cancelled request is left out; a failing drain leaves nobody waiting."""

from __future__ import annotations

import asyncio

import pytest

from certseal.errors import CertsealError, ErrorKind
from certseal.groupcommit import GroupQueue, settle, shared_failure


async def test_requests_of_one_moment_share_a_group_per_key():
    groups: list[tuple[str, list[int]]] = []

    async def write_group(key, group):
        groups.append((key, [item for item, _ in group]))
        for item, future in group:
            settle(future, item * 10)

    queue: GroupQueue[str, int, int] = GroupQueue(write_group, max_group=2)
    answers = await asyncio.gather(
        *(queue.submit("a", i) for i in range(3)), queue.submit("b", 7)
    )
    assert answers == [0, 10, 20, 70]
    assert sorted(groups) == [("a", [0, 1]), ("a", [2]), ("b", [7])]


async def test_a_request_cancelled_before_its_group_is_left_out():
    written: list[int] = []

    async def write_group(key, group):
        written.extend(item for item, _ in group)
        for item, future in group:
            settle(future, item)

    queue: GroupQueue[str, int, int] = GroupQueue(write_group, max_group=8)
    gone = asyncio.ensure_future(queue.submit("k", 1))
    kept = asyncio.ensure_future(queue.submit("k", 2))
    await asyncio.sleep(0)  # both queued; the drain has not written yet
    gone.cancel()
    assert await kept == 2
    assert written == [2]


async def test_a_failing_drain_gives_its_failure_to_everyone_still_waiting():
    async def write_group(key, group):
        raise RuntimeError("the writer broke")

    queue: GroupQueue[str, int, int] = GroupQueue(write_group, max_group=1)
    results = await asyncio.gather(
        queue.submit("k", 1), queue.submit("k", 2), return_exceptions=True
    )
    assert [str(r) for r in results] == ["the writer broke"] * 2
    # the key's queue is gone: the next request starts a new drain
    with pytest.raises(RuntimeError):
        await queue.submit("k", 3)


def test_which_failures_are_each_requests_own_answer():
    assert shared_failure(CertsealError(ErrorKind.UNAVAILABLE, "no active key"))
    assert not shared_failure(ValueError("a value one request brought"))


async def test_settle_leaves_a_finished_future_alone():
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    future.cancel()
    settle(future, 1)
    assert future.cancelled()
