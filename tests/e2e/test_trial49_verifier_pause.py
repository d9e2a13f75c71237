"""trial49 L8: a verifier stopped (SIGSTOP) and run again logged that the broker had
not answered for more than 5 s, blaming the broker for its own pause. It now says that
it did not run, and that the unknown lag follows from that pause."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tests.conftest import running, verifier_process

#: longer than the verifier's lag_unknown_after_s (5 s) and the consumer thread's
#: keepalive (3 s), so that both complain once it runs again
STOPPED_S = 8


@pytest.mark.fault
async def test_a_stopped_verifier_says_it_did_not_run_and_does_not_blame_the_broker(
    stack, config, issuer, tmp_path
):
    verifier = verifier_process(stack, config, tmp_path, "paused")
    async with running(verifier):
        os.kill(verifier.process.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(STOPPED_S)  # the stop itself is what is tested
        finally:
            os.kill(verifier.process.pid, signal.SIGCONT)
        await verifier.wait_for_log("this process did not run for", within=30)
        await verifier.wait_serving()  # ready again once the broker answers
        log = verifier.log_since_start()
    said = next(x for x in log.splitlines() if "this process did not run for" in x)
    seconds = float(said.split("did not run for at least ")[1].split(" s")[0])
    assert STOPPED_S - 1.5 <= seconds <= STOPPED_S + 10, said
    # not the broker's silence; one lasting past the bound after the verifier ran
    # again would be said as the broker's ("... since this process ran again")
    assert "the broker has not answered for more than 5 s (" not in log, log[-3000:]
    if "the index's lag is unknown" in log:  # when readiness noticed the gap
        assert "after this process's own pause of" in log, log[-3000:]
