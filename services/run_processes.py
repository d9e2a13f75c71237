"""``certseal run``'s service processes: each started in a session of its own, and
stopped in two waves, then killed with every process of its session when it does not
stop (:func:`shut_down`); how each ended, as the run says it (:func:`ending`,
:func:`not_started`, :func:`exited_lines`). Split from :mod:`services.run` by size."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from pathlib import Path
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
            if running(services[name]):  # trial53: killed, and said so
                say(f"{name} did not stop within {grace_s:g} s: killed")
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
    while running(process) and time.monotonic() < deadline:
        time.sleep(0.05)


def running(process: subprocess.Popen[bytes]) -> bool:
    """Whether ``process`` has not exited, without reaping it (``WNOWAIT``)."""
    if process.returncode is not None:
        return False
    try:
        done = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped already
        return False
    return done is None


def say(line: str, stream: TextIO | None = None) -> None:
    """Print ``line`` to ``stream`` (stdout) if it can still be written: a reader
    that went away (``make run | tee``, Ctrl-C ending both) must not stop a shutdown
    halfway."""
    with contextlib.suppress(OSError, ValueError):  # ValueError: a closed file
        print(line, file=stream or sys.stdout, flush=True)


def not_started(exited: dict[str, int], overlay: Path) -> str:
    """What the banner says instead of the walk-through when the services in
    ``exited`` (name: return code) did not start: how each ended (:func:`ending`),
    where their errors are, where (local.toml) a setting is mended. A service ended
    by a signal, or stopped without an error, said nothing: the settings are not the
    cause then (trial50: an issuer sent SIGINT alone was said to have an error
    above)."""
    text = "Not every service started:" + "".join(
        f"\n  {name}: {ending(code)}" for name, code in exited.items()
    )
    crashed = [name for name, code in exited.items() if code in _CRASHES]
    if crashed:  # its own fault, not a setting's nor a stop's (atk55)
        text += f"\n{', '.join(crashed)} crashed (a fault of its own, not a setting):"
        text += " what it printed\nabove, if anything, says where."
    if any(code > 0 for code in exited.values()):
        text += (
            "\nAn error's line is 'services.<name>: error: <setting>: <problem>'. A"
            f" setting it names\nis changed in {overlay}: there already if its line"
            " says so, else make run's\ndefault (config.toml is written anew at each"
            " start). A port another process\nholds is moved there by a service's"
            " listen or metrics_listen (e.g. [issuer] listen,\n[verifier]"
            " metrics_listen; the CLI's and the other services' targets follow it),"
            "\nregion-demo's by its address in [cli] verifier_groups (its metrics port"
            " is the one\nabove [verifier] metrics_listen's)."
        )
    elif not crashed:
        text += (
            "\nNone of them said an error: a signal sent to it alone ended it (a"
            " Ctrl-C or kill;\na SIGKILL may be the kernel's out-of-memory killer's:"
            " dmesg says). make run\nstarts it again."
        )
    return text + " certseal stops now.\n"


#: the return codes of the signals a process gets from a fault of its own (a C
#: extension's), not a stop
_CRASHES = {
    -signal.SIGSEGV,
    -signal.SIGABRT,
    -signal.SIGBUS,
    -signal.SIGILL,
    -signal.SIGFPE,
}


def service_state(ready: bool | None, process: subprocess.Popen[bytes]) -> str:
    """The banner's word for one service: ``EXITED (…)`` when the process is gone,
    also after it was found serving (:func:`ending`), else ``SERVING``, ``NOT READY``
    or, not waited for once another had exited (``ready`` None), ``NOT CHECKED``."""
    code = process.poll()
    if code is not None:
        return f"EXITED ({ending(code)})"
    return {True: "SERVING", False: "NOT READY", None: "NOT CHECKED"}[ready]


def ending(code: int) -> str:
    """How a process ended, from its return code: ``code N; its error is above`` (it
    said why on the terminal), ``killed by SIGKILL`` (a negative code: a signal,
    such as the OOM killer's, with nothing said), or, for code 0, stopped as asked
    (a SIGTERM or SIGINT sent to that service alone: it stopped cleanly, and said
    nothing wrong; trial50)."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if code == 0:
        return "stopped, code 0: asked to stop, not by this run"
    return f"code {code}; its error is above"


def exited_lines(services: dict[str, subprocess.Popen[bytes]]) -> list[str]:
    """``error: <service>: exited with code N`` (or ``killed by SIGKILL``) for every
    service that has stopped, so that a run ended by one dead service names it
    rather than stopping them all without a word; one that stopped cleanly (code 0,
    a stop sent to it alone) is no error (trial53): ``<service>: stopped, …``."""
    lines = []
    for name, process in services.items():
        code = process.poll()
        if code is not None:
            how = ending(code) if code <= 0 else f"exited with code {code}"
            said = f"{name}: {how}; the rest are stopped"
            lines.append(said if code == 0 else f"error: {said}")
    return lines


def run_status(services: dict[str, subprocess.Popen[bytes]]) -> int:
    """``certseal run``'s exit status once a service has stopped: 2 when one exited
    with 2 (its start was refused over a setting, as a configuration that does not
    load ends the run with 2), else 1."""
    codes = [process.poll() for process in services.values()]
    return 2 if 2 in codes else 1
