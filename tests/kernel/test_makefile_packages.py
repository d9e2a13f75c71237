"""The Makefile's Debian packages (``make browser``, ``poppler``, ``fonts``,
``softhsm``): installed when missing, apt's lock waited for, any other failure said
in apt's words at once, and a user who is not root told the command.

apt-get is a fake script (``APT_GET``) that records its arguments and answers as each
test says; ``APT_TRIES``/``APT_WAIT_S`` shorten the wait (10 s apart, 60 tries, by
default). ``CHROMIUM`` points at a file that does not exist, so ``make browser``
finds chromium missing; ``RARE_HAN_FONT`` at one that does, so its prerequisite
``fonts`` has nothing to do."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCKED = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 7"


def _fake_apt(tmp_path: Path, answers: list[tuple[int, str]]) -> Path:
    """An apt-get answering call i with ``answers[i]`` (the last one from then on):
    (exit code, output). Each call's arguments are appended to ``calls``."""
    script = tmp_path / "apt-get"
    lines = [
        "#!/bin/sh",
        f'echo "$*" >> {tmp_path / "calls"}',
        f"n=$(wc -l < {tmp_path / 'calls'})",
    ]
    for i, (code, out) in enumerate(answers[:-1], start=1):
        lines.append(f'[ "$n" -eq {i} ] && {{ echo "{out}"; exit {code}; }}')
    code, out = answers[-1]
    lines.append(f'echo "{out}"; exit {code}')
    script.write_text("\n".join(lines) + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def _make(tmp_path: Path, apt: Path, *, chromium: str = "", user: int = 0):
    """``make browser`` with the fake apt-get; as ``user`` (setpriv) when not 0."""
    argv = [
        *("make", "--no-print-directory", "-C", str(REPO), "browser"),
        *(f"APT_GET={apt}", "APT_TRIES=3", "APT_WAIT_S=0"),
        f"CHROMIUM={chromium or tmp_path / 'no-chromium'}",
        f"RARE_HAN_FONT={REPO / 'Makefile'}",  # a file anyone can see: the font's there
    ]
    if user:
        argv = [
            "setpriv",
            f"--reuid={user}",
            f"--regid={user}",
            "--clear-groups",
            *argv,
        ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def _calls(tmp_path: Path) -> list[str]:
    calls = tmp_path / "calls"
    return calls.read_text().splitlines() if calls.exists() else []


root_only = pytest.mark.skipif(os.getuid() != 0, reason="installs as root only")


@root_only
def test_a_missing_package_is_installed_after_apt_lets_go_of_its_lock(tmp_path):
    apt = _fake_apt(tmp_path, [(100, LOCKED), (100, LOCKED), (0, "")])
    done = _make(tmp_path, apt)
    assert done.returncode == 0, done.stderr
    assert "installing Debian's chromium" in done.stdout
    assert done.stdout.count("waiting for another apt to let go of its lock") == 2
    assert _calls(tmp_path) == ["update", "update", "update", "install -y chromium"]


@root_only
def test_a_lock_held_past_the_last_try_stops_with_apts_words(tmp_path):
    apt = _fake_apt(tmp_path, [(100, LOCKED)])
    done = _make(tmp_path, apt)
    assert done.returncode != 0
    assert LOCKED in done.stderr
    assert "gave up after 3 tries 0 s apart waiting for apt's lock" in done.stderr
    assert _calls(tmp_path) == ["update"] * 3


@root_only
def test_any_other_apt_failure_stops_at_once_with_apts_words(tmp_path):
    missing = "E: Unable to locate package chromium"
    apt = _fake_apt(tmp_path, [(0, ""), (100, missing)])
    done = _make(tmp_path, apt)
    assert done.returncode != 0
    assert missing in done.stderr
    assert "waiting" not in done.stdout
    assert _calls(tmp_path) == ["update", "install -y chromium"]


def test_a_package_that_is_there_is_left_alone(tmp_path):
    apt = _fake_apt(tmp_path, [(100, "never called")])
    done = _make(tmp_path, apt, chromium=str(shutil.which("sh")))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert _calls(tmp_path) == []


@root_only
def test_a_user_who_is_not_root_is_told_the_command(tmp_path):
    apt = _fake_apt(tmp_path, [(100, "never called")])
    done = _make(tmp_path, apt, user=65534)
    assert done.returncode != 0
    assert (
        "certseal needs Debian's chromium (the browser of the console tests): "
        "sudo apt-get install chromium"
    ) in done.stdout
    assert _calls(tmp_path) == []
