"""A ``certseal run`` for tests/e2e/test_atk10_run.py: services.run's own ``cmd_run``
with the dev stack's configuration and dev PKI but no PostgreSQL or broker, and each
service a real process that behaves as argv[2] (JSON) says: ``"hang"`` (never
serving), ``"exit3"`` (exits with code 3 as soon as the run waits for a service to
serve: a death during the readiness wait, whatever the machine's load), ``"exit2"``
(a start refused over a setting: code 2, exiting as ``"exit3"`` does) or ``"serve"`` (alive; counted as
SERVING while it lives, so that the run reaches its banner). Prints ``started <name>
<pid>`` for each service and ``waiting <name>`` when the readiness wait starts.

    python -m tests.e2e.atk10_run_child HOME '{"issuer": "exit3", "*": "hang"}'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import services.run as run
import services.run_layers as run_layers
from certseal.config import dump_config
from services import cli
from services.devstack import DevStack

BEHAVIOUR = {
    "hang": "import time; time.sleep(600)",
    "serve": "import time; time.sleep(600)",
}
EXITS = {"exit3": 3, "exit2": 2}  # exit2: a start refused over a setting
# run in a kind's process before its Python starts (atk10b's deaf services ignore
# SIGTERM from birth)
PREEXEC: dict[str, Callable[[], None]] = {}


def _exit_once_waited_for(code: int, waiting: Path) -> str:
    """A service's code that exits with ``code`` once ``waiting`` exists."""
    return (
        "import os, time\n"
        f"while not os.path.exists({str(waiting)!r}): time.sleep(0.01)\n"
        f"raise SystemExit({code})"
    )


class ConfigOnly(DevStack):
    """The dev stack's configuration and certificates; no PostgreSQL, no broker."""

    async def start(self):  # type: ignore[override]
        cfg = self.config
        (self.home / "secrets").mkdir(parents=True, exist_ok=True)
        server = self.ca.identity("service:certseal", server=True)
        cfg.tls.ca_file = str(self.ca.ca_file)
        cfg.tls.cert_file, cfg.tls.key_file = (
            str(server.cert_file),
            str(server.key_file),
        )
        cfg.kafka.bootstrap_servers = "127.0.0.1:9"
        dsn_file = self.home / "secrets" / "database.dsn"
        dsn_file.write_text("postgresql://nobody@127.0.0.1:9/none\n")
        cfg.database.dsn_file = str(dsn_file)
        self.configure(cfg)
        self.config_file.write_text(dump_config(cfg))
        return cfg

    def stop(self) -> None:
        print("stack stopped", flush=True)


def main() -> int:
    home, plan = sys.argv[1], json.loads(sys.argv[2])
    behaviour: dict[int, str] = {}
    # made when the run starts waiting for the first service to serve
    waiting = Path(home).parent / f"{Path(home).name}.waiting"

    def start_service(
        argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        module = argv[2].removeprefix("services.")
        name = "region" if "region-demo" in argv else module
        kind = plan.get(name, plan.get("*", "hang"))
        code = BEHAVIOUR.get(kind) or _exit_once_waited_for(EXITS[kind], waiting)
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            start_new_session=True,
            preexec_fn=PREEXEC.get(kind),
        )
        behaviour[process.pid] = kind
        # one write: with PYTHONUNBUFFERED, print writes the text and its newline
        # apart, and a service's own line landed between them
        os.write(1, f"started {name} {process.pid}\n".encode())
        return process

    real_wait_serving, real_wait_https = run._wait_serving, run._wait_https

    def wait_serving(cfg, process, target, give_up):  # type: ignore[no-untyped-def]
        print(f"waiting {target}", flush=True)
        waiting.touch()
        if behaviour[process.pid] == "serve":
            return process.poll() is None
        return real_wait_serving(cfg, process, target, give_up)

    def wait_https(cfg, process, url, give_up):  # type: ignore[no-untyped-def]
        print(f"waiting {url}", flush=True)
        waiting.touch()
        if behaviour[process.pid] == "serve":
            return process.poll() is None
        return real_wait_https(cfg, process, url, give_up)

    run.DevStack = ConfigOnly  # type: ignore[misc]
    # its services bind nothing: a port another run on this machine holds (make
    # run's defaults) is not theirs to be refused over
    run_layers.ports_held = lambda *_: []
    run.start_service = start_service
    run._wait_serving = wait_serving
    run._wait_https = wait_https
    # the CLI as `certseal run` calls it (its handling of KeyboardInterrupt and of a
    # broken pipe included)
    return cli.main(["run", "--home", str(Path(home)), "--broker-port", "0"])


if __name__ == "__main__":
    sys.exit(main())
