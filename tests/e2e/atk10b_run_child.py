"""tests/e2e/atk10_run_child.py with two more modes, for tests/e2e/test_atk10b_run.py
(argv[3]):

- ``deaf``: every ``"serve"`` service ignores SIGTERM (a service stuck in its own
  shutdown) and starts a process of its own that ignores it too (``started its-child
  PID``); it prints ``deaf`` once it has, so a test signals the run only then;
- ``slow-stack``: the embedded stack's start does not end (PostgreSQL's first initdb
  on a slow disk, a broker slow to listen); ``stack starting`` is printed when it
  begins, and ``stack stopped`` (atk10_run_child) when the run stops the stack.

    python -m tests.e2e.atk10b_run_child HOME '{"*": "serve"}' deaf
"""

from __future__ import annotations

import asyncio
import signal
import sys

from tests.e2e import atk10_run_child as child


class SlowStack(child.ConfigOnly):
    """A stack whose start does not end."""

    async def start(self):  # type: ignore[override]
        print("stack starting", flush=True)
        await asyncio.sleep(600)
        return await super().start()


if __name__ == "__main__":
    mode = sys.argv[3] if len(sys.argv) > 3 else ""
    del sys.argv[3:]
    if mode == "deaf":
        # and a process of its own, as a service's pool or resource tracker, that
        # ignores SIGTERM as well
        child.BEHAVIOUR["serve"] = (
            "import signal, subprocess, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "kid = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
            "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
            # one write each: the run's services inherit PYTHONUNBUFFERED, with which
            # print writes a line's text and its newline apart, between another's
            "import os\n"
            "os.write(1, f'started its-child {kid.pid}\\n'.encode())\n"
            "os.write(1, b'deaf\\n')\n"
            "time.sleep(600)"
        )
        # ignoring SIGTERM from birth: a service still starting its Python when
        # the run's own stop began died of the stop's SIGTERM, and the stop ended
        # before a test's Ctrl-C could meet it (a CI run)
        child.PREEXEC["serve"] = lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN)
    elif mode == "slow-stack":
        child.ConfigOnly = SlowStack  # type: ignore[misc]
    sys.exit(child.main())
