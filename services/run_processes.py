"""``certseal run``'s service processes: each started in a session of its own, and
stopped in two waves, then killed with every process of its session when it does not
stop (:func:`shut_down`). Split from :mod:`services.run` by size."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from typing import TextIO


def start_service(
    argv: list[str], env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A service process in a session of its own, with environment ``env`` (this
    process's when None): Ctrl-C in the terminal reaches ``certseal run`` alone, which
    stops each service once (:func:`shut_down`); a SIGINT sent to every process made
    Faust's workers print ``-INT-`` six times each.

    The service gets SIGTERM when the thread that started it ends, the run killed
    with SIGKILL included (util-linux ``setpriv --pdeathsig``, which execs it: no
    Python runs between fork and exec in a process with gRPC's threads); the rest of
    its session is then ended by the run's keeper (:mod:`services.run_keeper`)."""
    setpriv = shutil.which("setpriv")
    wrapper = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
    return subprocess.Popen([*wrapper, *argv], start_new_session=True, env=env)


def kill_session(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a service started by :func:`start_service` and every process of its
    session (a pool's workers, multiprocessing's resource tracker), which would
    otherwise outlive it; those processes too when the service itself has exited
    (its session's group keeps its pid while one of them runs)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)  # its session's group: its pid
    except (ProcessLookupError, PermissionError):
        process.kill()


def shut_down(
    services: dict[str, subprocess.Popen[bytes]],
    stop_stack: Callable[[], str | None],
    *,
    grace_s: float = 15.0,
    first: Collection[str] = (),
    between: Callable[[], object] | None = None,
) -> None:
    """Stop every service with SIGTERM, those named in ``first`` before the others,
    with ``between()`` run in between (``make run``: the verifier groups, then the
    issuer once it has read their last usage records,
    :func:`~services.run_layers.usage_read`), then the embedded stack. Each of the two
    waves has ``grace_s`` seconds (one grace for all its services): those still
    running then are killed, and so is every process left in each service's
    session, the service stopped or not; a second Ctrl-C kills them at once (:func:`services.run._run`). One
    line per service, ``stopped.`` on a line of its own, or ``stopped, except: …``
    with what ``stop_stack()`` returned, what it could not stop. The lines are best effort
    (:func:`say`): with the output piped into ``tee`` that Ctrl-C ended too, the
    services and the stack are stopped all the same."""
    # the terminal echoed ^C without a newline: the shutdown starts on a new line
    say("")
    waves = [
        [n for n in services if n in first],
        [n for n in services if n not in first],
    ]
    for number, wave in enumerate(waves):
        if number and waves[0] and between is not None:
            between()
        deadline = time.monotonic() + grace_s  # the wave's, from its own start
        for name in wave:
            if services[name].poll() is None:
                services[name].send_signal(signal.SIGTERM)
                say(f"stopping {name}")
        for name in wave:
            _exited(services[name], deadline)
            # killed with its session whether it stopped or not: what a service that
            # exited on SIGTERM left running (its pool's workers) must not outlive it;
            # before it is reaped, so that its pid is still its session's
            kill_session(services[name])
            services[name].wait()
    say("stopping PostgreSQL and the broker")
    left = stop_stack()
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    say(f"stopped, except: {left}" if left else "stopped.")


def _exited(process: subprocess.Popen[bytes], deadline: float) -> None:
    """Wait until ``process`` has exited or ``deadline`` (time.monotonic) has passed,
    without reaping it: its pid stays its own (and its session's group's) until
    :meth:`~subprocess.Popen.wait`, so a :func:`kill_session` before that never
    reaches a process that took the pid over."""
    while process.returncode is None:
        try:
            done = os.waitid(
                os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT
            )
        except ChildProcessError:  # reaped already
            return
        if done is not None or time.monotonic() >= deadline:
            return
        time.sleep(0.05)


def say(line: str, stream: TextIO | None = None) -> None:
    """Print ``line`` to ``stream`` (stdout) if it can still be written: a reader
    that went away (``make run | tee``, Ctrl-C ending both) must not stop a shutdown
    halfway."""
    with contextlib.suppress(OSError, ValueError):  # ValueError: a closed file
        print(line, file=stream or sys.stdout, flush=True)
