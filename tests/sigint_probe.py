"""A ``sitecustomize`` that sends its own process SIGINT the moment a module is
first imported: a Ctrl-C at an exact moment of a start, for the tests of a start
interrupted (put its folder on PYTHONPATH)."""

from __future__ import annotations

from pathlib import Path

_PROBE = """
import importlib.abc, os, signal, sys, time

class _InterruptAt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)  # the signal's handling runs before this returns
        return None

sys.meta_path.insert(0, _InterruptAt())
"""


def interrupting_at(folder: Path, module: str) -> Path:
    """``folder`` holding a ``sitecustomize.py`` that interrupts its process as
    ``module`` is first imported; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(_PROBE.format(module=module))
    return folder
