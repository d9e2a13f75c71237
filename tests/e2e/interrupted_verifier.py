"""``python -m services.verifier`` interrupted at one stage of its start, for
tests/e2e/test_interrupted_start.py: the SIGINT comes when the start reaches that stage
(not after a time, whatever the machine's load), so each stage's stop is tried on
every run.

    python -m tests.e2e.interrupted_verifier STAGE GOES_ON -- VERIFIER ARGS...

``STAGE`` is ``module:Class.method@when``: the first call of that (async) method
sends this process a SIGINT ``before`` the method runs or ``after`` it returned, and
says ``interrupted at STAGE`` on stderr. ``GOES_ON`` says when the start goes on from
there:

- ``stopped``: once the stop that the signal asked for has stopped Faust's app and
  is stopping the worker's last service (the gRPC server): the worst moment for a
  start that goes on beside its stop (CI, 2026-12-06: the app's tasks started then,
  and one dead-lettered an event through the stopped producer: ``NotReady``);
- a number of seconds: after that long (0: at once, the stop beginning meanwhile).

Then the process runs ``services.verifier`` as ``python -m`` does, with the
arguments after ``--``.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import os
import runpy
import signal
import sys
import time
from typing import Any

from services.verifier.worker import VerifierWorker

#: how long ``stopped`` waits for the stop at most (then the start goes on anyway)
STOPPED_WITHIN_S = 20.0

_workers: list[VerifierWorker] = []


def _stopping_last_service() -> bool:
    """Whether the stop has asked every service of the worker to stop: the app's
    stop is over (the worker stops its services in reverse, the app first)."""
    children = [child for child in _workers[0]._children if child is not None]
    return bool(children) and all(child.should_stop for child in children)


async def _go_on(when: str) -> None:
    if when != "stopped":
        await asyncio.sleep(float(when))
        return
    deadline = time.monotonic() + STOPPED_WITHIN_S
    # the stop's progress is read off the services: there is no event to wait for
    while not _stopping_last_service() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.001)


def interrupt_at(stage: str, goes_on: str) -> None:
    """Make the first call of ``stage``'s method send SIGINT (see the module)."""
    target, _, when = stage.partition("@")
    assert when in ("before", "after"), stage
    module, _, qualified = target.partition(":")
    owner_name, _, name = qualified.rpartition(".")
    owner: Any = importlib.import_module(module)
    for part in owner_name.split("."):
        owner = getattr(owner, part)
    original = getattr(owner, name)
    fired = False

    async def interrupt() -> None:
        nonlocal fired
        fired = True
        print(f"interrupted at {stage}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGINT)
        await _go_on(goes_on)

    @functools.wraps(original)
    async def interrupted(*args: Any, **kwargs: Any) -> Any:
        if fired:
            return await original(*args, **kwargs)
        if when == "before":
            await interrupt()
            return await original(*args, **kwargs)
        result = await original(*args, **kwargs)
        await interrupt()
        return result

    setattr(owner, name, interrupted)


def _remember_the_worker() -> None:
    execute = VerifierWorker.execute_from_commandline

    def remembered(self: VerifierWorker) -> Any:
        _workers.append(self)
        return execute(self)

    VerifierWorker.execute_from_commandline = remembered  # type: ignore[method-assign]


def main() -> None:
    split = sys.argv.index("--")
    stage, goes_on = sys.argv[1:split]
    _remember_the_worker()
    interrupt_at(stage, goes_on)
    sys.argv = [sys.argv[0], *sys.argv[split + 1 :]]
    runpy.run_module("services.verifier", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
