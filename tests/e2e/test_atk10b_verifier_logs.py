"""atk10b: the verifier's lines inside Faust (e159689), attacked with a traceback
that reaches stderr rather than a logger (failed on main at b370ff3, mended).

Faust's worker (mode's) redirects sys.stdout and sys.stderr to the logger
``mode.redirect`` by default (``redirect_stdouts``): each write becomes a record of
its own, at WARNING. A traceback written to stderr while the worker runs (an
exception in a thread, an "Exception ignored in ..." from a finaliser, a warning) is
therefore some 15 JSON lines, one per fragment (``"msg": "Traceback (most recent call
last):"``, ``"msg": ":"``, ``"msg": "division by zero"``), at warning, where a log
shipper needs one record with the traceback in its ``exc`` field.

Checked and held: every --log-level (crit, error, warn, info, debug) filters as
named and every line is JSON; CERTSEAL_LOG_FORMAT=text gives the plain format (Faust's
multi-line table dumps continue on their own lines, as any multi-line message does);
an exception logged with exc_info is one record with ``exc``; non-ASCII messages are
written as UTF-8, not escaped.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl

from tests.conftest import verifier_process

#: imported by the verifier at start-up (PYTHONPATH): once the worker's logging is set
#: up (or Faust's worker has replaced sys.stderr), a thread raises; Python's default
#: threading.excepthook would print its traceback to sys.stderr
SITECUSTOMIZE = """
import sys, threading, time

def _boom():
    original = sys.__stderr__
    end = time.monotonic() + 60
    # until the worker set its logging up (certseal's hook) or Faust replaced stderr
    while (
        sys.stderr is original
        and threading.excepthook is threading.__excepthook__
        and time.monotonic() < end
    ):
        time.sleep(0.05)
    time.sleep(1.0)  # Faust's worker is starting by then
    raise ZeroDivisionError("atk10b thread failure")

threading.Thread(target=_boom, daemon=True).start()
"""


async def test_atk10b_a_traceback_on_stderr_is_one_json_record(
    stack, config, tmp_path, monkeypatch
):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", f"{site}{os.pathsep}{path}" if path else str(site))
    worker = verifier_process(stack, config, tmp_path, "exc", "--log-level", "warn")
    await worker.start()
    try:
        await worker.wait_serving()
    finally:
        await worker.stop()
    # the serving start's lines (a start whose port was taken first is moved)
    lines = worker.log_since_start().splitlines()
    records = [json.loads(line) for line in lines]  # every line JSON (held)
    about = [r for r in records if "atk10b thread failure" in json.dumps(r)]
    assert about, lines  # the thread did fail while the worker ran
    # one record, with the traceback in "exc", and nothing of it in loose records
    assert len(about) == 1, about
    assert "Traceback" in about[0].get("exc", ""), about
    fragments = [r for r in records if r["logger"] == "mode.redirect"]
    assert fragments == [], fragments[:5]


async def test_failed_tls_handshakes_add_no_lines_of_grpcs_own(stack, config, tmp_path):
    """A client that fails the mTLS handshake (no certificate, or one of another CA:
    CI met a stray process's) made gRPC's C core write a non-JSON INFO line per
    connection into the worker's log, one a stranger can repeat at will: only gRPC's
    errors are written (GRPC_VERBOSITY, set by certseal's package)."""
    worker = verifier_process(stack, config, tmp_path, "tls")
    await worker.start()
    try:
        await worker.wait_serving()
        context = ssl.create_default_context(cafile=config.tls.ca_file)
        context.check_hostname = False
        for _ in range(3):  # no client certificate: the server refuses the handshake
            with (
                socket.create_connection(("127.0.0.1", worker.port), timeout=5) as raw,
                contextlib.suppress(ssl.SSLError, OSError),
                context.wrap_socket(raw) as tls,
            ):
                tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                tls.recv(1)
        await worker.wait_serving()
    finally:
        await worker.stop()
    # the serving start's lines: one whose port another process took first is
    # moved by the harness, and that failed start's bind error is gRPC's own (CI)
    lines = worker.log_since_start().splitlines()
    assert any(line.startswith("{") for line in lines), lines  # it did log
    loose = [line for line in lines if not line.startswith("{")]
    assert loose == [], loose
