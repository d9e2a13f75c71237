"""atk13b: make run's two-wave Ctrl-C (services/run.py ``shut_down``, f13fd73)."""

from __future__ import annotations

import concurrent.futures
import signal
import socket
import subprocess
import sys
import time

#: a service that takes ``stop_s`` seconds to stop once it gets SIGTERM, as the
#: issuer's graceful stop does (its gRPC grace, the usage consumer's last commit)
GRACEFUL = """
import signal, sys, time
def stop(*_):
    time.sleep({stop_s})
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(60)
"""


def graceful(stop_s: float) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-c", GRACEFUL.format(stop_s=stop_s)],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    return process


def test_the_issuer_keeps_a_grace_of_its_own_after_the_usage_wait():
    """shut_down takes one deadline for both waves; the verifier groups' stop (the
    gatherer alone may wait STOP_WAIT_S = 5 s) and usage_read (up to 5 s, 10 s with
    wait_for's margin) are spent before the issuer is signalled, so the issuer is left
    max(0, deadline - now): here nothing, and it is killed at once, mid-stop (before
    f13fd73 every service had the whole 15 s, in parallel). Scaled down: grace 2 s, a
    verifier stop of 1 s, a usage wait that ran to its bound (1 s), an issuer that
    needs 0.3 s."""
    from services.run_processes import shut_down

    services = {"issuer": graceful(0.3), "dept-demo": graceful(1.0)}

    def usage_wait_at_its_bound() -> None:
        time.sleep(1.0)  # a duration: what usage_read takes when nothing commits

    shut_down(
        services,
        lambda: None,
        grace_s=2.0,
        first=("dept-demo",),
        between=usage_wait_at_its_bound,
    )
    assert services["dept-demo"].returncode == 0
    assert services["issuer"].returncode == 0, "the issuer was killed, not stopped"
    assert services["issuer"].returncode != -signal.SIGKILL


def test_usage_read_keeps_its_bound_when_the_broker_does_not_answer():
    """usage_read promises 'at most within_s seconds' (make run: 5 s). A broker that
    accepts and never answers (hung, or stopped with SIGSTOP) holds the admin client's
    start until asyncio.wait_for(..., within_s + 5) cancels it: 10 s of make run's
    Ctrl-C instead of 5, all of it out of the issuer's grace (the test above)."""
    from services.config import Config
    from services.run_layers import usage_read

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel accepts; nobody ever answers
        cfg = Config()
        cfg.kafka.bootstrap_servers = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        # in a thread of its own, as make run's main thread is: asyncio.run in the
        # test's main thread leaves it no event loop, and later tests that ask for
        # one failed at setup (40 errors in CI)
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            assert not thread.submit(usage_read, cfg, within_s=1.0).result()
        took = time.monotonic() - started
    assert took < 3.0, f"usage_read(within_s=1.0) took {took:.1f} s"


GONE_BROKER = """
import socket
from services.config import Config
from services.run_layers import usage_read
with socket.socket() as closed:
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]  # nothing listens once it is closed
cfg = Config()
cfg.kafka.bootstrap_servers = f"127.0.0.1:{port}"
print(usage_read(cfg, within_s=1.0))
"""


def test_usage_read_with_the_broker_gone_leaves_nothing_unclosed():
    """make run's Ctrl-C after the broker died: usage_read is False at once (held),
    but admin.start() raises before the consumer it already built is started, and
    neither is closed: the run's stderr gains asyncio's ERROR 'Unclosed
    AIOKafkaConsumer' (the process that ran it, here a child, prints it at exit)."""
    done = subprocess.run(
        [sys.executable, "-c", GONE_BROKER],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "False", done.stderr
    assert "Unclosed" not in done.stderr, done.stderr
