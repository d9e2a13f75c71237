"""Idle cost of the whole ``make run`` stack: ``make bench`` → bench/results/idle.json.

Starts ``certseal run`` (PostgreSQL, the broker, the issuer, two verifier groups, the
seal service, the event feed and the console) in a fresh folder with a free broker
port, waits for its banner, lets it settle for BENCH_IDLE_SETTLE_S (default 15 s),
then measures the CPU time every process of the tree used over BENCH_IDLE_S (default
30 s) with nothing to do:

- ``idle_cpu_cores``: CPU seconds per wall second, summed over the tree (1.0 = one
  core busy);
- ``idle_cpu_cores_by_process``: the same per process (broker, postgres, issuer, ...).

Run on its own (``python -m bench.idle_bench``): ``certseal run`` serves on its fixed
ports (50051-50055, 8443, 94x4), so another running stack on this machine must be
stopped first.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import psutil

from bench.issuer_bench import write_results
from certseal.devstack import free_port

SETTLE_S = float(os.environ.get("BENCH_IDLE_SETTLE_S", "15"))
MEASURE_S = float(os.environ.get("BENCH_IDLE_S", "30"))


def _label(process: psutil.Process) -> str:
    """A short name for a process of the stack."""
    try:
        cmdline = process.cmdline()
    except psutil.Error:
        return "gone"
    text = " ".join(cmdline)
    if "services.verifier" in text:
        group = cmdline[cmdline.index("--group") + 1] if "--group" in cmdline else ""
        return f"verifier {group or 'dept-demo'}"
    for name in ("issuer", "seal", "feed", "console"):
        if f"services.{name}" in text:
            return name
    if "broker" in text:
        return "broker"
    if "postgres" in text or "postmaster" in text:
        return "postgres"
    if " run " in f"{text} ":
        return "certseal run"
    return process.name()


def _cpu_seconds(root: psutil.Process) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of ``root`` and every descendant, by pid."""
    found = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            found[process.pid] = (_label(process), times.user + times.system)
        except psutil.Error:
            continue
    return found


def _postgres(home: Path) -> list[psutil.Process]:
    """PostgreSQL's processes (pg_ctl detaches them from the run's tree)."""
    pid_file = home / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return []
    master = psutil.Process(int(pid_file.read_text().split()[0]))
    return [master, *master.children(recursive=True)]


def measure(home: Path) -> dict[str, object]:
    """Run the stack in ``home`` and measure it while idle."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen(
        [
            *(sys.executable, "-m", "services", "run", "--home", str(home)),
            *("--broker-port", str(free_port())),
        ],
        stdout=subprocess.PIPE,
        stderr=(home / "run.log").open("wb"),
        env=env,
        text=True,
    )
    try:
        assert run.stdout is not None
        deadline = time.monotonic() + 300
        for line in run.stdout:
            if "certseal is running" in line:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("certseal run did not start within 300 s")
        else:
            raise RuntimeError("certseal run exited before its banner")
        # keep the pipe drained while measuring
        drain = subprocess.Popen(["cat"], stdin=run.stdout, stdout=subprocess.DEVNULL)
        time.sleep(SETTLE_S)
        if run.poll() is not None:
            raise RuntimeError(f"certseal run stopped; see {home / 'run.log'}")
        root = psutil.Process(run.pid)

        def snapshot() -> dict[int, tuple[str, float]]:
            found = _cpu_seconds(root)
            for process in _postgres(home):
                try:
                    times = process.cpu_times()
                    found[process.pid] = ("postgres", times.user + times.system)
                except psutil.Error:
                    continue
            return found

        before, started = snapshot(), time.monotonic()
        time.sleep(MEASURE_S)
        after, wall = snapshot(), time.monotonic() - started
        if run.poll() is not None:
            raise RuntimeError(f"certseal run stopped; see {home / 'run.log'}")
        by_process: dict[str, float] = defaultdict(float)
        for pid, (label, cpu) in after.items():
            if pid in before:
                by_process[label] += cpu - before[pid][1]
        total = sum(by_process.values()) / wall
        return {
            "idle_cpu_cores": round(total, 3),
            "idle_cpu_cores_by_process": {
                label: round(cpu / wall, 3) for label, cpu in sorted(by_process.items())
            },
            "idle_measured_s": round(wall, 1),
        }
    finally:
        run.send_signal(signal.SIGINT)
        try:
            run.wait(60)
        except subprocess.TimeoutExpired:
            run.kill()
        if "drain" in locals():
            drain.wait(10)


def main() -> None:
    """Measure and write bench/results/idle.json."""
    home = Path(tempfile.mkdtemp(prefix="certseal-idle-"))
    results = measure(home)  # on failure the folder stays, with run.log
    shutil.rmtree(home, ignore_errors=True)
    write_results(
        "idle",
        results,
        {"settle_s": SETTLE_S, "measure_s": MEASURE_S, "stack": "certseal run"},
    )


if __name__ == "__main__":
    main()
