"""trial47 (low): the README's walk-through wrote ``licence.pdf`` in the checkout, and
``git status`` showed it: every file its commands write there by name (``--out``,
``>``, curl's ``-c`` cookie jar) is git-ignored."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_WRITES = re.compile(r"(?:--out|>|-c)\s+([A-Za-z0-9_][A-Za-z0-9_.-]*)(?=\s|$)")


def walkthrough_outputs() -> set[str]:
    """The names the README's code blocks write in the current folder (comments,
    which quote output, left out)."""
    names = set()
    for block in re.findall(
        r"```[a-z]*\n(.*?)```", (ROOT / "README.md").read_text(), re.S
    ):
        for line in block.splitlines():
            command = line.split(" #")[0] if not line.lstrip().startswith("#") else ""
            names.update(_WRITES.findall(command))
    return names


def test_every_file_the_walkthrough_writes_is_git_ignored():
    names = walkthrough_outputs()
    assert {"licence.pdf", "OUT.pdf", "jar", "copy.pdf"} <= names  # the reading works
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *sorted(names)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert sorted(names - set(ignored)) == []
