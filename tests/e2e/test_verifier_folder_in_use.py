"""A verifier worker whose data folder another process holds exits at once with one
line naming the setting, never waits for it nor shows a traceback (inv16: a worker
must never hang at start)."""

from __future__ import annotations

import asyncio
import copy
import secrets
import sys

import pytest

from certseal.config import dump_config
from services.verifier.diskindex import FOLDER as INDEX_FOLDER
from services.verifier.replay_store import FOLDER as REPLAY_FOLDER
from tests.conftest import VerifierProcess

HOLD = """
import sys
from rocksdict import Options, Rdict
db = Rdict(sys.argv[1], Options(raw_mode=True))
print("held", flush=True)
sys.stdin.read()  # until the test closes it
"""


@pytest.mark.fault
async def test_a_folder_another_process_holds_is_a_clear_error_not_a_hang(
    stack, config, tmp_path
):
    cfg = copy.deepcopy(config)
    cfg.verifier.data_dir = str(tmp_path / "data")
    (tmp_path / "config.toml").write_text(dump_config(cfg))
    group = f"u-{secrets.token_hex(3)}"
    process = VerifierProcess(stack, tmp_path / "config.toml", tmp_path, group)
    await process.start()
    try:
        await process.wait_serving()  # the folder made, as a previous worker left it
        await process.stop()
        for folder in (INDEX_FOLDER, REPLAY_FOLDER):
            # a previous worker not yet exited, or a second one on the same folder
            holder = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                HOLD,
                str(tmp_path / "data" / group / folder),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            try:
                async with asyncio.timeout(30):
                    assert (await holder.stdout.readline()).strip() == b"held"
                await process.start()
                assert await process.exit_status(within=60) == 1
                said = process.log_since_start()
                assert (
                    f"services.verifier: error: verifier.data_dir: "
                    f"{tmp_path / 'data' / group} is in use by another process" in said
                ), said
                assert f"{folder}/LOCK" in said and "Traceback" not in said, said
            finally:
                async with asyncio.timeout(30):
                    await holder.communicate(b"")
        await process.start()  # the folder free again: it serves from what it kept
        await process.wait_serving()
    finally:
        await process.stop()
