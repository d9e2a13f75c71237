"""atk12: ``certseal run`` with a wrong setting of the operator's own (local.toml)
ends as every other certseal command on bad input does: exit status 2 and the error
said once. It still starts PostgreSQL, the broker and seven services that each say
the same error (three or more times, with ``services.<name>: error:``), then exits 1,
though it read local.toml first (services.run_layers._as_services_read_it) and knew
it did not load."""

from __future__ import annotations

import asyncio
import sys

from certseal.cli import LOCAL_OVERLAY
from services.devstack import free_port


async def test_a_run_with_a_local_overlay_that_does_not_load_exits_2(tmp_path):
    home = tmp_path / "data"
    home.mkdir()
    (home / LOCAL_OVERLAY).write_text('[issuer]\nworkers = "two"\n')
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
    problem = "[issuer] workers: expected int, got str"
    assert process.returncode == 2, stderr
    assert stderr.count(problem) == 1, stderr
