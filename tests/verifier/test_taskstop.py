"""A stop ends its service's tasks, also one that did not take its cancellation
(services/verifier/taskstop.py). mode cancels each task once and then waits for all of
them with no limit: a task that dropped its cancellation (a library catching it, or a
cancellation racing a timeout) held the stop until the watchdog ended the process (CI,
2026-12-06)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from mode import Service

from services.verifier import taskstop


async def _drops_its_first_cancellation(went_on: asyncio.Event) -> None:
    with contextlib.suppress(asyncio.CancelledError):  # as a library may
        await asyncio.Event().wait()
    went_on.set()
    await asyncio.Event().wait()  # waits on, for events no one will send


class Keeps(Service):
    """A service with one task that drops its first cancellation."""

    def __init__(self) -> None:
        super().__init__()
        self.went_on = asyncio.Event()

    async def on_started(self) -> None:
        self.add_future(_drops_its_first_cancellation(self.went_on))


class Ends(taskstop.EndsItsTasks, Keeps):
    pass


async def test_a_stop_ends_a_task_that_dropped_its_cancellation(monkeypatch, caplog):
    monkeypatch.setattr(taskstop, "RECANCEL_S", 0.05)
    service = Ends()
    await service.start()
    await asyncio.sleep(0)  # the task runs up to its wait
    with caplog.at_level(logging.WARNING, logger=taskstop.__name__):
        await asyncio.wait_for(service.stop(), 5)
    assert service.went_on.is_set()  # it did drop the first one
    assert not service._futures
    (said,) = [r.getMessage() for r in caplog.records]
    assert said.startswith("a task went on after its stop cancelled it"), said
    assert "_drops_its_first_cancellation" in said, said


async def test_without_it_mode_s_own_stop_waits_for_ever():
    """The premise: mode's stop of the same service does not end."""
    service = Keeps()
    await service.start()
    await asyncio.sleep(0)
    stopping = asyncio.ensure_future(service.stop())
    done, _ = await asyncio.wait({stopping}, timeout=0.5)
    assert not done and service.went_on.is_set()
    for future in list(service._futures):
        future.cancel()  # the second cancellation ends it, and the stop
    await asyncio.wait_for(stopping, 5)


async def test_tasks_added_while_it_stops_are_ended_too():
    futures: set[asyncio.Future[None]] = set()

    async def adds_one_more() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            futures.add(asyncio.ensure_future(asyncio.Event().wait()))

    futures.add(asyncio.ensure_future(adds_one_more()))
    await asyncio.sleep(0)
    await asyncio.wait_for(taskstop.cancel_until_ended(futures, every=0.05), 5)
    assert len(futures) == 2 and all(future.cancelled() for future in futures)


async def test_a_task_cleaning_up_after_its_cancellation_is_not_cut_short():
    """A task's own clean-up shorter than RECANCEL_S runs to its end."""
    cleaned: list[str] = []

    async def cleans_up() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.1)  # closing its consumer
            cleaned.append("closed")

    futures = {asyncio.ensure_future(cleans_up())}
    await asyncio.sleep(0)
    await asyncio.wait_for(taskstop.cancel_until_ended(futures, every=1.0), 5)
    assert cleaned == ["closed"]
