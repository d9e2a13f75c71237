"""Ctrl-C (SIGINT) while a service process starts ends it with no traceback
(certseal/interrupt.py). Before, a SIGINT during the imports or the checks, before
the service set its own stop handler, printed a KeyboardInterrupt traceback from
wherever the main thread was (a verifier's was in Faust's ``app.task``).

The moment the signal comes is this test's input: whatever it is, the process ends
by the signal or stops cleanly, and says nothing of an exception."""

from __future__ import annotations

import asyncio
import copy
import signal
import sys

import pytest

from certseal.config import dump_config
from services.devstack import free_port
from tests.conftest import verifier_process

#: seconds after the process is made: its imports, its checks, its service's start
MOMENTS_S = [0.05, 0.3, 0.8, 1.5]


def _quiet_end(code: int | None, said: str) -> None:
    assert code in (0, -signal.SIGINT), said
    if _before_any_code_of_ours(said):
        return
    for noise in ("Traceback", "KeyboardInterrupt", "Exception ignored"):
        assert noise not in said, said


def _before_any_code_of_ours(said: str) -> bool:
    """Whether ``said`` is Python's own traceback of a SIGINT that came while the
    interpreter was still finding the module to run (every frame ``<frozen
    runpy>``): no line of the program has run then, so nothing of it can set the
    signal's handling (on a loaded machine 0.05 s can fall there: CI, 2026-12-04)."""
    lines = said.strip().splitlines()
    frames = [line for line in lines if line.lstrip().startswith("File ")]
    return (
        lines[:1] == ["Traceback (most recent call last):"]
        and lines[-1:] == ["KeyboardInterrupt"]
        and bool(frames)
        and all('File "<frozen runpy>"' in line for line in frames)
        and len(lines) == 2 + len(frames)
    )


@pytest.mark.parametrize("moment_s", MOMENTS_S)
async def test_a_verifier_interrupted_as_it_starts_ends_quietly(
    stack, config, tmp_path, moment_s
):
    worker = verifier_process(stack, config, tmp_path, "sigint")
    await worker.start()
    await asyncio.sleep(moment_s)
    worker.process.send_signal(signal.SIGINT)
    code = await asyncio.wait_for(worker.process.wait(), 60)
    _quiet_end(code, worker.log_since_start())


@pytest.mark.parametrize("moment_s", MOMENTS_S)
async def test_a_console_interrupted_as_it_starts_ends_quietly(
    stack, config, tmp_path, moment_s
):
    cfg = copy.deepcopy(config)
    cfg.console.listen = f"127.0.0.1:{free_port()}"
    cfg.console.metrics_listen = ""
    config_file = tmp_path / "console.toml"
    config_file.write_text(dump_config(cfg))
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services.console", "--config", str(config_file)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    await asyncio.sleep(moment_s)
    process.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    _quiet_end(process.returncode, out.decode(errors="replace"))


async def test_a_serving_verifier_interrupted_stops_cleanly_in_its_log_format(
    stack, config, tmp_path
):
    """nu24: Faust's handler wrote "-INT- -INT- -INT- ..." among the JSON lines."""
    worker = verifier_process(stack, config, tmp_path, "sigint-served")
    await worker.start()
    await worker.wait_serving()
    worker.process.send_signal(signal.SIGINT)
    code = await asyncio.wait_for(worker.process.wait(), 60)
    said = worker.log_since_start()
    _quiet_end(code, said)
    assert code == 0, said
    assert "-INT-" not in said, said
