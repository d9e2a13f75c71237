"""atk47: the Makefile's ``bytecode`` step (commit b45c25b), run before ``make test``
and ``make run``, in a checkout it cannot write everywhere. The recipe is read from
the Makefile and run by ``sh`` in a tree of its own (not by make: its prerequisite
``setup`` would build a virtual environment), with this interpreter as ``$(PY)``."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _recipe(target: str) -> list[str]:
    lines = (REPO / "Makefile").read_text().splitlines()
    start = lines.index(next(x for x in lines if x.startswith(f"{target}:")))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line[1:].replace("$(PY)", shlex.quote(sys.executable)))
    return recipe


def _tree(tmp_path: Path) -> Path:
    """The folders the step compiles, a module in each."""
    for folder in ("certseal", "services", "tests", "bench", "examples", "deploy"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "module.py").write_text("VALUE = 1\n")
    return tmp_path


def _run(tree: Path) -> subprocess.CompletedProcess[str]:
    recipe = _recipe("bytecode")
    assert recipe, "no bytecode recipe"
    script = "set -e\n" + "\n".join(line.lstrip("@-") for line in recipe)
    return subprocess.run(
        ["sh", "-c", script], cwd=tree, capture_output=True, text=True, timeout=120
    )


def test_the_step_compiles_the_project(tmp_path):
    done = _run(_tree(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert list((tmp_path / "certseal" / "__pycache__").glob("module.*.pyc"))


def test_a_checkout_it_cannot_write_still_runs_the_tests(tmp_path):
    """A __pycache__ the step cannot write (another user's, left by a ``sudo make``
    that installed the Debian packages; a checkout mounted read-only): ``compileall``
    said "*** Error compiling ..." for each module and exited 1, so ``make test`` and
    ``make run`` stopped there, where Python itself only skips writing bytecode. The
    step is a speed-up: it must not fail the target. (A folder's place taken by a
    file stands for it here: root writes anywhere.)"""
    tree = _tree(tmp_path)
    (tree / "certseal" / "__pycache__").write_text("")  # no folder can be made here
    done = _run(tree)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
