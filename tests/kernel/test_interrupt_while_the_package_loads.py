"""A SIGINT while ``python -m services.<service>`` loads the ``services`` package and
the kernel ends the start quietly, as one after the service's ``__main__`` began does
(certseal.interrupt). CI (2026-12-06): a console interrupted 0.05 s into its start
printed a KeyboardInterrupt traceback from ``services/__init__.py`` importing
certseal, before the service's ``__main__`` had run.

The moment is made exact here: a ``sitecustomize`` on PYTHONPATH sends the process
SIGINT as ``certseal`` is first imported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import services

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib.abc, os, signal, sys, time

class _InterruptAtTheKernel(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "certseal":
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)  # the signal's handling runs before this returns
        return None

sys.meta_path.insert(0, _InterruptAtTheKernel())
"""


def _run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sitecustomize.py").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("service", services.SERVICE_MAINS)
def test_a_service_interrupted_as_the_kernel_loads_ends_by_the_signal_quietly(
    tmp_path: Path, service: str
):
    done = _run(tmp_path, "-m", f"services.{service}", "--config", "/nonexistent")
    assert done.returncode == -signal.SIGINT, done.stderr
    assert done.stdout == done.stderr == ""


def test_a_program_importing_services_keeps_pythons_keyboard_interrupt(tmp_path):
    """Only a service's start is changed: the CLI (``python -m services``) and any
    program that imports the package keep Python's KeyboardInterrupt, which they
    handle (pytest's own Ctrl-C among them)."""
    for argv in (["-m", "services", "--help"], ["-c", "import services"]):
        done = _run(tmp_path, *argv)  # Python ends by the signal after its report
        assert done.stderr.rstrip().endswith("KeyboardInterrupt"), (argv, done.stderr)


def test_the_list_is_every_service_whose_main_hands_sigint_to_the_os():
    calling = sorted(
        path.parent.name
        for path in (ROOT / "services").glob("*/__main__.py")
        if "interrupt_ends_the_start()" in path.read_text()
    )
    assert calling == sorted(services.SERVICE_MAINS)
