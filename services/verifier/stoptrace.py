"""Where a worker's stop waits: what a stop that hangs says before the process exits
(:class:`services.verifier.worker.VerifierWorker`), so that the exit does not take
the answer with it.

mode stops each child service in a task of its own (``asyncio.shield(child.stop())``):
the stop task's chain of awaits ends at the shield, and the service that hangs is
found among the tasks running a service's ``stop``. Faust's consumer runs on a thread
of its own, which the chains of awaits do not show: every other thread's stack is
said too."""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from typing import Any

from mode.utils.tracebacks import format_task_stack

TOLD_WITHIN_S = 2.0
"""How long the event loop is given to say where the stop waits before the loop
thread's own stack is read instead (a loop blocked in a call)."""

#: frames said of a task's chain of awaits, and of a thread's stack
TASK_FRAMES = 40
THREAD_FRAMES = 12


def where_the_stop_waits(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Task[Any] | None
) -> str:
    """Text, several lines: the chain of awaits of ``stop`` (the task running the
    stop) and of every task running a service's ``stop``, read on ``loop``'s thread;
    then the stack of every thread but that one. When ``loop`` does not run the
    reading within :data:`TOLD_WITHIN_S`, its thread's stack instead of the tasks'.
    Called from another thread than ``loop``'s; never raises."""
    told, said = threading.Event(), []

    def tell() -> None:
        try:
            said.append(_stopping_tasks(stop))
        finally:
            told.set()

    try:
        loop.call_soon_threadsafe(tell)
    except RuntimeError:  # the loop closed: the stop is past the loop
        return "(the event loop is closed)\n" + _threads(skip=None)
    loop_thread = threading.main_thread().ident
    if told.wait(TOLD_WITHIN_S) and said:
        return said[0] + _threads(skip=loop_thread)
    return "(the event loop did not answer)\n" + _threads(skip=None)


def _stopping_tasks(stop: asyncio.Task[Any] | None) -> str:
    parts = []
    if stop is None or stop.done():
        parts.append("(no stop task: the stop ran outside the signal's task)\n")
    else:
        parts.append(format_task_stack(stop, limit=TASK_FRAMES))
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        owner = frame.f_locals.get("self") if frame is not None else None
        if task is stop or getattr(coro, "__name__", "") != "stop" or owner is None:
            continue
        parts.append(
            f"stopping {type(owner).__name__}: "
            + format_task_stack(task, limit=TASK_FRAMES)
        )
    return "".join(parts)


def _threads(skip: int | None) -> str:
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        if ident == skip or ident == threading.get_ident():
            continue
        stack = traceback.format_stack(frame, limit=THREAD_FRAMES)
        parts.append(f"thread {names.get(ident, ident)}:\n" + "".join(stack))
    return "".join(parts)
