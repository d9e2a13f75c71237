"""A verifier worker that found its index damaged starts itself again (``os.execv``)
to rebuild it; a SIGTERM landing after its last look at whether it was asked to stop
was noted by the old image and lost with it, and the worker started again ran on
(CI, 2026-12-07, test_verifier_stop_on_damage). From that look on, a stop signal
ends the process by the OS's default, and one that reaches the thread doing the
execv waits, blocked, for the new image, which unblocks it first thing and ends."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from services.verifier import __main__ as verifier_main

ROOT = Path(__file__).resolve().parents[2]


class _Execd(Exception):
    pass


def test_the_execv_of_a_rebuild_holds_the_stop_signals_for_the_new_image(
    monkeypatch, tmp_path
):
    seen: dict[str, object] = {}

    def execv(path: str, argv: list[str]) -> None:
        seen["blocked"] = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        seen["handlers"] = [
            signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)
        ]
        seen["argv"] = argv
        raise _Execd

    monkeypatch.setattr(verifier_main.os, "execv", execv)
    monkeypatch.setattr(verifier_main, "drop_index", lambda *a, **k: None)
    monkeypatch.setattr(verifier_main, "note_rebuild", lambda *a, **k: None)
    before_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    before = [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)]
    try:
        with pytest.raises(_Execd):
            verifier_main._rebuild(tmp_path, "damaged", "damaged")
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before_mask)
        for signum, handler in zip(
            (signal.SIGTERM, signal.SIGINT), before, strict=True
        ):
            signal.signal(signum, handler)
    assert {signal.SIGTERM, signal.SIGINT} <= set(seen["blocked"])  # type: ignore[arg-type]
    assert seen["handlers"] == [signal.SIG_DFL, signal.SIG_DFL]
    assert seen["argv"][-2:] == ["--rebuilding", "damaged"]  # type: ignore[index]


def test_a_stop_asked_before_the_look_is_not_started_again(monkeypatch, tmp_path):
    monkeypatch.setattr(verifier_main.os, "execv", lambda *a: pytest.fail("execv"))
    monkeypatch.setattr(verifier_main, "drop_index", lambda *a, **k: None)
    monkeypatch.setattr(verifier_main, "note_rebuild", lambda *a, **k: None)
    before = [signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)]
    try:
        verifier_main._rebuild(
            tmp_path, "damaged", "damaged", stop_signal=lambda: signal.SIGTERM
        )
        assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    finally:
        for signum, handler in zip(
            (signal.SIGTERM, signal.SIGINT), before, strict=True
        ):
            signal.signal(signum, handler)


def test_a_stop_held_across_execv_ends_the_new_image_by_the_signal():
    """The other half, for real: a SIGTERM pending and blocked as a process execs
    ``python -m services.verifier`` ends it by SIGTERM before it does anything."""
    script = (
        "import os, signal, sys; "
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}); "
        "os.kill(os.getpid(), signal.SIGTERM); "
        "os.execv(sys.executable, [sys.executable, '-m', 'services.verifier', '--help'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGTERM, (done.returncode, done.stdout[:200])
    assert done.stdout == "", done.stdout[:200]
