"""What a stop that hangs says of where it waits (services/verifier/stoptrace.py): the
stop task's awaits, the service whose own stop task hangs, and the other threads."""

from __future__ import annotations

import asyncio
import threading
import types
from collections.abc import Iterator

import pytest
from mode import Service

from services.verifier import stoptrace


class Hangs(Service):
    reached = threading.Event()  # set once a stop has reached on_stop

    async def on_stop(self) -> None:
        Hangs.reached.set()
        await asyncio.Event().wait()  # a child whose stop never ends


class Parent(Service):
    def __init__(self) -> None:
        super().__init__()
        self.add_dependency(Hangs())


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    asyncio.run_coroutine_threadsafe(_cancel_the_rest(), running).result(5)
    running.call_soon_threadsafe(running.stop)
    thread.join(5)
    running.close()


async def _cancel_the_rest() -> None:
    rest = await _tasks()
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


def _read_from_another_thread(loop, stop) -> str:
    said: list[str] = []
    reader = threading.Thread(
        target=lambda: said.append(stoptrace.where_the_stop_waits(loop, stop)),
        name="reader",
    )
    reader.start()
    reader.join(10)
    return said[0]


def test_a_stop_that_hangs_in_a_child_names_the_child_and_where(loop):
    async def started() -> Parent:
        parent = Parent()
        await parent.start()
        return parent

    parent = asyncio.run_coroutine_threadsafe(started(), loop).result(10)
    Hangs.reached.clear()
    stop = asyncio.run_coroutine_threadsafe(parent.stop(), loop)
    assert Hangs.reached.wait(10)  # the stop has reached its child
    tasks = asyncio.run_coroutine_threadsafe(_tasks(), loop).result(5)
    stopping = next(
        task for task in tasks if task.get_coro().cr_frame.f_locals["self"] is parent
    )
    said = _read_from_another_thread(loop, stopping)
    assert said.startswith("Stack for <Task pending"), said
    assert "stopping Hangs:" in said, said
    assert "in on_stop" in said, said  # Hangs.on_stop, where the stop hangs
    assert not stop.done()


async def _tasks() -> set[asyncio.Task]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


def test_no_stop_task_is_said_as_such(loop):
    said = _read_from_another_thread(loop, None)
    assert said.startswith("(no stop task"), said


def test_a_loop_that_does_not_answer_is_said_with_every_thread(monkeypatch):
    monkeypatch.setattr(stoptrace, "TOLD_WITHIN_S", 0.05)
    blocked = types.SimpleNamespace(call_soon_threadsafe=lambda _callback: None)
    said = _read_from_another_thread(blocked, None)
    assert said.startswith("(the event loop did not answer)"), said
    # the main thread (this test's) is said with where it is
    assert "MainThread" in said and "_read_from_another_thread" in said, said


def test_a_closed_loop_is_said_as_such():
    closed = asyncio.new_event_loop()
    closed.close()
    assert stoptrace.where_the_stop_waits(closed, None).startswith(
        "(the event loop is closed)"
    )
