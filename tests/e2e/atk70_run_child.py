"""tests/e2e/atk10b_run_child.py's ``deaf`` mode, each service's start preceded by a
pause of argv[3] seconds (``starting slow``): a Ctrl-C can land while the run starts
its services, after the embedded stack is up (atk70)."""

from __future__ import annotations

import signal
import sys
import time

import services.run as run
from tests.e2e import atk10_run_child as child

if __name__ == "__main__":
    pause = float(sys.argv[3])
    del sys.argv[3:]
    child.BEHAVIOUR["serve"] = (
        "import signal, os, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "os.write(1, b'deaf\\n')\n"
        "time.sleep(600)"
    )
    child.PREEXEC["serve"] = lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN)
    real_main = child.cli.main

    def main(argv):  # type: ignore[no-untyped-def]
        fast = run.start_service  # the harness's, set by now

        def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
            time.sleep(pause)  # a fork on a loaded machine, before the next start
            return fast(*args, **kwargs)

        run.start_service = slow
        return real_main(argv)

    child.cli.main = main
    sys.exit(child.main())
