"""atk44: the stop's second cancellation (services/verifier/taskstop.py) against a
task's own clean-up.

F3 (medium): ``cancel_until_ended`` cancels again every ``RECANCEL_S`` (3 s) a task
still running after its first cancellation; its docstring says 3 s is longer than
any task's clean-up, naming the presentation store's closing. But the
``record_presentations`` task's clean-up (services/verifier/app.py) is
``await asyncio.to_thread(presentations.stop)``, and ``UsageFeed.stop``
(services/verifier/replay.py) waits up to 10 s for the usage-feed thread (its
consumer stopping, a RocksDB write in flight) before it closes the store. A
clean-up of 3 to 10 s is cut by the second cancellation: the task ends while the
store is still open and the worker's stop goes on as if it were closed; the
close runs on in an executor thread beside the rest of the stop, and is lost
when the process ends by the watchdog's ``os._exit`` (25 s) or the pod's kill.
The same holds for ``feed.stop()`` (the licence feed's consumer stopping,
its commit and leave-group against a slow broker) in ``apply_licence_events``.
Fixed: a clean-up awaited through ``taskstop.cleaned_up`` is waited for, never
cancelled again."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time

from services.verifier import taskstop
from services.verifier.app import create_app


def test_the_verifier_s_clean_ups_are_marked_as_such():
    """Fixed: the two clean-ups after a cancellation in the verifier's app are awaited
    through ``taskstop.cleaned_up``, which the re-cancel waits for and never cuts."""
    source = inspect.getsource(create_app)
    assert "await cleaned_up(feed.stop())" in source
    assert "await cleaned_up(asyncio.to_thread(presentations.stop))" in source
    assert source.count("finally:\n            await ") == source.count(
        "finally:\n            await cleaned_up("
    )


async def test_a_clean_up_longer_than_the_recancel_is_done_when_the_tasks_end():
    """As ``record_presentations``: the clean-up a thread's (``presentations.stop``),
    here scaled down: 3 x the re-cancel's period."""
    every = 0.1
    closed = threading.Event()

    def close_store() -> None:
        time.sleep(3 * every)  # joining the feed's thread, then closing
        closed.set()

    async def record_presentations() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await taskstop.cleaned_up(asyncio.to_thread(close_store))

    task = asyncio.ensure_future(record_presentations())
    await asyncio.sleep(0)
    await taskstop.cancel_until_ended({task}, every=every)
    assert closed.is_set(), "the task ended while its store was still being closed"
    assert not taskstop._CLEANING
