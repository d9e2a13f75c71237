"""``certseal.storage.idempotency.finish_kept``: what a process awaits at its stop
before closing its pool (a cancelled call's refusal being settled)."""

from __future__ import annotations

import asyncio

import pytest

from certseal.storage.idempotency import finish_kept, kept


def test_work_kept_on_a_loop_now_closed_is_not_waited_for():
    """A loop closed with kept work still pending (a test's, a process restarted in
    one interpreter) would otherwise make every later stop wait its whole timeout."""
    left = asyncio.new_event_loop()
    blocked = left.create_future()

    async def keep() -> None:
        kept(blocked)

    left.run_until_complete(keep())
    left.close()

    async def stop() -> float:
        started = asyncio.get_running_loop().time()
        await finish_kept(5)
        return asyncio.get_running_loop().time() - started

    assert asyncio.run(stop()) < 1


def test_the_running_loops_work_is_waited_for_and_a_timeout_is_raised():
    async def main() -> list[str]:
        done: list[str] = []
        gate = asyncio.Event()

        async def settle() -> None:
            await gate.wait()
            done.append("settled")

        kept(settle())
        with pytest.raises(TimeoutError):
            await finish_kept(0.05)
        gate.set()
        await finish_kept(5)
        return done

    assert asyncio.run(main()) == ["settled"]
