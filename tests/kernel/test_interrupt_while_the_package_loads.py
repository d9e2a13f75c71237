"""A SIGINT while ``python -m services…`` loads the ``services`` package and the
kernel ends the process by the signal, quietly, as one after a service's ``__main__``
began does (certseal.interrupt). CI (2026-12-06): a console interrupted 0.05 s into
its start printed a KeyboardInterrupt traceback from ``services/__init__.py``
importing certseal, before the service's ``__main__`` had run.

The moment is made exact here: a ``sitecustomize`` on PYTHONPATH sends the process
SIGINT as ``certseal`` is first imported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sigint_probe import interrupting_at

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *argv: str, probe: bool = True) -> subprocess.CompletedProcess:
    path = [str(ROOT)]
    if probe:
        path.insert(0, str(interrupting_at(tmp_path / "probe", "certseal")))
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "services.console", "--config", "/nonexistent"],
        ["-m", "services.issuer", "--config", "/nonexistent"],
        ["-mservices.seal", "--config", "/nonexistent"],  # -m's value attached
        ["-um", "services.verifier", "--config", "/nonexistent"],  # flags combined
        ["-X", "dev", "-m", "services.feed.__main__", "--config", "/nonexistent"],
        ["-m", "services", "--help"],  # the CLI
    ],
)
def test_a_start_interrupted_as_the_kernel_loads_ends_by_the_signal_quietly(
    tmp_path: Path, argv: list[str]
):
    done = _run(tmp_path, *argv)
    assert done.returncode == -signal.SIGINT, done.stderr
    assert done.stdout == done.stderr == ""


def test_a_program_importing_the_package_keeps_pythons_keyboard_interrupt(tmp_path):
    """Only a ``-m`` start is changed: pytest, or any program that imports the
    package, keeps Python's KeyboardInterrupt, which it handles."""
    done = _run(tmp_path, "-c", "import services")
    assert done.stderr.rstrip().endswith("KeyboardInterrupt"), done.stderr


@pytest.mark.parametrize(
    "before,after",
    [
        ("pass", "signal.default_int_handler"),  # Python's handler is back once loaded
        ("signal.signal(signal.SIGINT, signal.SIG_IGN)", "signal.SIG_IGN"),  # ignored
    ],
)
def test_a_m_start_has_its_sigint_handling_back_once_the_package_is_loaded(
    tmp_path: Path, before: str, after: str
):
    script = (
        f"import signal, sys; {before}; sys.argv[0] = '-m'; import services; "
        f"print(signal.getsignal(signal.SIGINT) is {after})"
    )
    done = _run(tmp_path, "-c", script, probe=False)
    assert done.stdout.strip() == "True", done.stderr
