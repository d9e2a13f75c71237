"""atk12: ``certseal run`` with a wrong setting of the operator's own (local.toml)
ends as every other certseal command on bad input does: exit status 2 and the error
said once. It still starts PostgreSQL, the broker and seven services that each say
the same error (three or more times, with ``services.<name>: error:``), then exits 1,
though it read local.toml first (services.run_layers._as_services_read_it) and knew
it did not load."""

from __future__ import annotations

import asyncio
import sys

import pytest

from certseal.cli import LOCAL_OVERLAY
from services.devstack import free_port


@pytest.mark.parametrize(
    ("overlay", "problem"),
    [
        ('[issuer]\nworkers = "two"\n', "[issuer] workers: expected int, got str"),
        # both verifier groups would say it, and without its section (fixnu-b 10)
        (
            "[verifier]\nfetch_max_wait_ms = 0\n",
            "error: verifier.fetch_max_wait_ms: must be between 1 and 60,000 ms",
        ),
        (
            "[verifier]\ngroup_size = 0\n",
            "error: configuration: [verifier] group_size: ",
        ),
        (  # a default the file's group_size makes wrong: not the file's (atk23 F5)
            "[verifier]\ngroup_size = 3\n",
            "error: verifier.worker: a group of 3 workers needs a worker name",
        ),
    ],
)
async def test_a_run_with_a_local_overlay_that_does_not_load_exits_2(
    tmp_path, overlay, problem
):
    home = tmp_path / "data"
    home.mkdir()
    (home / LOCAL_OVERLAY).write_text(overlay)
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services", "run", "--home", str(home)),
        *("--broker-port", str(free_port())),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(300):  # bounds a run that would not end
            _, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    stderr = err.decode(errors="replace")
    assert process.returncode == 2, stderr
    assert stderr.count(problem) == 1, stderr
    line = next(line for line in stderr.splitlines() if problem in line)
    named = "verifier.worker" not in problem  # local.toml gives no [verifier] worker
    assert line.endswith(f" (set in {home / LOCAL_OVERLAY})") is named, line
