"""atk12b: the issuer's supervisor now stops the whole issuer when a child exits 2
(services/issuer/__main__.py ``_supervise``), whenever that happens: also for a child
restarted after it crashed, long after the issuer started with a configuration that
was right. A child reads the configuration file again at each restart, so a file
changed on disk since (an edit not meant to be live yet, a Kubernetes ConfigMap
updated in place for the next version during a rolling upgrade) makes a crash of one
child the end of every child, the serving ones included, where the supervisor used
to restart that one child and keep serving with the others.

Finding (fixed): the supervisor takes exit 2 as "stop" only
for a child of the configuration it started with (e.g. when the parent's own load of
the files still succeeds, or at the first start), not after a restart.
"""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import sys
from pathlib import Path

from certseal.config import dump_config
from services.devstack import free_port
from tests.conftest import migrated_database


def _serving_children(pid: int) -> list[int]:
    """The supervisor's children of role serve (from /proc)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [
        int(child)
        for child in text.split()
        if "--role\0serve" in Path(f"/proc/{child}/cmdline").read_text()
    ]


async def test_a_crashed_child_that_reads_a_changed_file_does_not_stop_the_issuer(
    stack, config, tmp_path
):
    dsn_file = tmp_path / "database.dsn"
    dsn_file.write_text(await migrated_database(config, "atk12bsup"))
    cfg = copy.deepcopy(config)
    cfg.database.dsn_file = str(dsn_file)
    cfg.issuer.workers = 2
    cfg.issuer.listen = f"127.0.0.1:{free_port()}"
    cfg.issuer.metrics_listen = f"127.0.0.1:{free_port()}"
    cfg.issuer.probe_listen = ""
    config_file = tmp_path / "issuer.toml"
    config_file.write_text(dump_config(cfg))
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services.issuer", "--config", str(config_file)),
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stderr is not None
    seen: list[str] = []

    async def line_with(text: str) -> None:
        assert process.stderr is not None
        while True:
            line = (await process.stderr.readline()).decode(errors="replace")
            if not line:
                raise AssertionError("stderr ended:\n" + "".join(seen[-40:]))
            seen.append(line)
            if text in line:
                return

    async def lines_with(wanted: dict[str, int]) -> None:
        left = dict(wanted)
        while any(left.values()):
            assert process.stderr is not None
            line = (await process.stderr.readline()).decode(errors="replace")
            if not line:
                raise AssertionError("stderr ended:\n" + "".join(seen[-40:]))
            seen.append(line)
            for text in left:
                if text in line and left[text]:
                    left[text] -= 1

    try:
        async with asyncio.timeout(120):
            # both serving children listen (certseal.process logs it once each) and
            # the relay process leads (it too has read the file: one still starting
            # would read the edit below at its first start, which stops the issuer)
            await lines_with({"listening on port": 2, "outbox-relay: leader": 1})
            # an edit on disk, not applied: the running issuer is unaffected...
            config_file.write_text(
                config_file.read_text() + "\n[issuer_typo]\nworkers = 2\n"
            )
            # ...until one serving child crashes and is restarted
            os.kill(_serving_children(process.pid)[0], signal.SIGKILL)
            await line_with("exited with -9; restarting")
            # the restarted child refuses the file (exit 2); a supervisor that keeps
            # serving says it restarts it again, one that stops ends stderr first
            await line_with("exited with 2; restarting")
        assert process.returncode is None, "".join(seen[-40:])
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
