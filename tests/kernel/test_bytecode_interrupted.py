"""``make run`` compiles the project's modules first (the Makefile's ``bytecode``);
a Ctrl-C then printed a KeyboardInterrupt traceback from compileall and from each of
its worker processes, 20 to 50 lines (trial50). The recipe hands SIGINT to the OS
first, so the compile ends by the signal, quietly. The moment is made exact: a
``sitecustomize`` sends SIGINT as compileall starts its worker processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.sigint_probe import interrupting_at

ROOT = Path(__file__).resolve().parents[2]


def test_a_ctrl_c_while_the_modules_compile_ends_quietly(tmp_path: Path):
    recipe = subprocess.run(
        ["make", "-s", "-n", "-o", ".venv/.installed-stamp", "bytecode"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "compileall" in recipe, recipe
    shutil.copytree(ROOT / "certseal", tmp_path / "certseal")  # nothing compiled yet
    shutil.rmtree(tmp_path / "certseal" / "__pycache__", ignore_errors=True)
    probe = interrupting_at(tmp_path / "probe", "concurrent.futures.process")
    command = recipe.replace(".venv/bin/python", sys.executable).replace(" || true", "")
    done = subprocess.run(
        command.replace("tests bench examples deploy", ""),
        shell=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(probe)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (-signal.SIGINT, 128 + signal.SIGINT), done
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
