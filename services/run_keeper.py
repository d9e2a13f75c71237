"""``certseal run``'s keeper: what stops a run's processes when the run cannot.

``kill -9`` of ``certseal run`` runs no ``finally``: its services (each in a session
of its own), their forkservers and workers, and PostgreSQL (pg_ctl's daemon) ran on,
holding every port, and pgserver's list of holders kept the dead run's pid. Now:

- each service gets SIGTERM when the run dies (``setpriv --pdeathsig``,
  :func:`services.run_processes.start_service`), as the broker does;
- the keeper, a small process of its own session started by the run, waits on a pipe
  whose only writer is the run. At a clean stop the run says ``done``; at EOF without
  it (the run died) the keeper does what the run's stop would have done
  (:func:`end_leftovers`, then PostgreSQL) and exits. It shares the run's lock
  (``<home>/run.lock``), so the next run waits for it (:meth:`RunLock.acquire`);
- every process a run starts for its services carries ``CERTSEAL_RUN=<run pid>:<home>``
  in its environment (inherited by its own children): a run's leftovers are provably
  its own, the same data folder, their run dead (the lock is ours).

    python -m services.run_keeper HOME RUN_PID GRACE_S   (stdin: the run's pipe)
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from certseal.devstack_pg import process_alive, prune_holders, stop_server

#: the environment variable naming a service's run: ``<run pid>:<home, resolved>``
RUN_TAG = "CERTSEAL_RUN"
#: whether services get SIGTERM from the kernel when their run dies (util-linux)
PDEATHSIG = shutil.which("setpriv") is not None


def run_tag(home: Path) -> str:
    """This process's :data:`RUN_TAG` value for a run on ``home``."""
    return f"{os.getpid()}:{home.resolve()}"


def tagged(home: Path, run_pid: int | None = None) -> dict[int, int]:
    """The live processes whose environment names a run on ``home`` (that of
    ``run_pid`` only, when given; any but this process's own otherwise): pid -> its
    session id. Zombies, and processes this user may not read, are left out."""
    home = home.resolve()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        prefix = f"{RUN_TAG}=".encode()
        tags = [v[len(prefix) :] for v in environ.split(b"\0") if v.startswith(prefix)]
        if not tags:
            continue
        pid_text, _, tag_home = tags[0].decode(errors="replace").partition(":")
        if tag_home != str(home) or not pid_text.isdigit():
            continue
        tag_pid = int(pid_text)
        if tag_pid == os.getpid() if run_pid is None else tag_pid != run_pid:
            continue  # this run's own services; another run's
        fields = stat.rpartition(")")[2].split()
        if fields[0] in ("Z", "X"):
            continue
        found[int(entry.name)] = int(fields[3])  # state ppid pgrp session
    return found


def started_from(config_file: Path) -> list[int]:
    """The live processes given ``--config <config_file>`` (a run's services, also
    those of a run from before :data:`RUN_TAG`, which cannot be proved its own), by
    pid, sorted; this process excluded."""
    wanted = str(config_file.resolve()).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        given = any(
            a == b"--config" and b == wanted for a, b in itertools.pairwise(argv)
        )
        if given and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def end_leftovers(
    home: Path,
    grace_s: float,
    *,
    signal_leaders: bool,
    run_pid: int | None = None,
) -> list[int]:
    """End every process :func:`tagged` finds (``home``, ``run_pid``) as the run's
    stop does: SIGTERM to each session leader (a service) when ``signal_leaders`` (else
    it had one from the kernel), ``grace_s`` seconds for the leaders to exit, then
    SIGKILL to every such process and session left, awaited (5 s at most) so that
    their ports are free. Returns the pids found first, sorted; [] when none."""
    found = tagged(home, run_pid)
    leaders = [pid for pid, session in found.items() if session == pid]
    if signal_leaders:
        for pid in leaders:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(map(process_alive, leaders)):
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while (left := tagged(home, run_pid)) and time.monotonic() < deadline:
        for pid, session in left.items():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            if session > 1 and session != os.getsid(0):  # never one's own
                with contextlib.suppress(OSError):
                    os.killpg(session, signal.SIGKILL)
        time.sleep(0.05)
    return sorted(found)


def home_problem(home: Path) -> str:
    """Why ``home`` cannot be a data folder ('' when it can): it is not a folder, or
    it does not exist and neither does its parent (a mistyped ``--home`` made a whole
    data folder, a PostgreSQL cluster, a CA and secrets where the typo pointed)."""
    if home.exists() and not home.is_dir():
        return f"{home} is not a folder"
    parent = home.resolve().parent
    if not home.exists() and not parent.is_dir():
        return (
            f"{home} does not exist, nor does its parent folder {parent}: check "
            "the path, or create the parent folder first"
        )
    return ""


def leftover_problem(home: Path, pids: list[int]) -> str:
    """The one line said instead of every port it holds when processes given
    ``home``'s config.toml still run (``pids``): an earlier run's, killed, from
    before runs tagged their services; moving every port would be the wrong fix."""
    listed = " ".join(map(str, pids))
    return (
        f"error: home: processes of an earlier run of {home.resolve()} still run "
        f"and hold its ports (pids {listed}): that run was killed before it could "
        f"stop them; stop them (kill {listed}), then run again"
    )


class Keeper:
    """The keeper process of the run on ``home`` (this process), sharing the run's
    lock ``lock_fd``; its services have ``grace_s`` seconds to stop once their run is
    gone, as at a Ctrl-C."""

    def __init__(self, home: Path, lock_fd: int, grace_s: float = 15.0):
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "services.run_keeper"),
                *(str(home.resolve()), str(os.getpid()), str(grace_s)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            pass_fds=(lock_fd,),
            start_new_session=True,  # Ctrl-C in the terminal is the run's alone
        )

    def dismiss(self) -> None:
        """The run stopped everything itself: the keeper exits (awaited, 10 s at
        most) without doing anything, and lets go of the lock."""
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.write(b"done\n")
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


def keep(home: Path, run_pid: int, grace_s: float) -> int:
    """The keeper's life: 0 once the run said ``done``; else, at EOF, the run's
    leftovers ended (:func:`end_leftovers`) and PostgreSQL stopped when no live
    process holds it any more, one line on stderr saying so; 0."""
    for line in sys.stdin.buffer:
        if line.strip() == b"done":
            return 0
    ended = end_leftovers(home, grace_s, signal_leaders=not PDEATHSIG, run_pid=run_pid)
    pgdata = home / "pg"
    stopped = ""
    if not prune_holders(pgdata, drop=(run_pid,)) and (pgdata / "PG_VERSION").exists():
        try:
            stop_server(pgdata)
            stopped = " and PostgreSQL"
        except Exception as exc:  # the next run's start reuses it, and stops it
            stopped = f"; PostgreSQL did not stop: {exc}"
    if ended or stopped:
        with contextlib.suppress(OSError, ValueError):
            print(
                f"certseal run (pid {run_pid}) ended without stopping its processes: "
                f"stopped {len(ended)} of them{stopped}",
                file=sys.stderr,
                flush=True,
            )
    return 0


def main(argv: list[str]) -> int:
    """``python -m services.run_keeper HOME RUN_PID GRACE_S``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run's Ctrl-C is not its own
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nor the terminal's closing
    home, run_pid, grace_s = argv
    return keep(Path(home), int(run_pid), float(grace_s))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
