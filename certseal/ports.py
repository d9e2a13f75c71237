"""Free loopback ports for servers that bind them later (the embedded stack, the
tests, ``certseal run``'s moved listens).

A port drawn here is leased machine-wide (a file per port under
:data:`LEASE_DIR`, taken under one lock) for :data:`LEASE_S`: another process
drawing at the same time, even one of the same slice (a test worker and the
``certseal run`` it started), skips it until the caller has bound it (a CI run lost
a verifier to a port another process drew between the draw and the bind).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import socket
import tempfile
import time
from pathlib import Path

LEASE_DIR = Path(tempfile.gettempdir()) / f"certseal-port-leases-{os.getuid()}"
"""Where the leases of drawn ports are kept: one file per port, its age the lease."""
LEASE_S = 300.0
"""Seconds a drawn port stays leased: its caller binds it within them."""

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux default 32768)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


PORT_SLICE = "CERTSEAL_PORT_SLICE"
"""The environment variable naming this process's slice of :func:`port_window`."""


def port_window() -> tuple[int, int]:
    """The ports :func:`free_port` draws from, inclusive: the 12,000 below the kernel's
    ephemeral range, or the slice of them ``CERTSEAL_PORT_SLICE`` (``i/n``) names; a
    value that is not such a slice is ignored."""
    high = max(_ephemeral_low() - 1, 2048)
    low = max(1024, high - 12000)
    index, _, count = os.environ.get(PORT_SLICE, "").partition("/")
    if index.isdigit() and count.isdigit() and int(index) < int(count):
        size = (high - low + 1) // int(count)
        low += int(index) * size
        high = low + size - 1
    return low, high


def free_port() -> int:
    """A free TCP port on loopback for a server that binds it later: an int in 1024..65535.

    The port comes from below the kernel's ephemeral range. A port the kernel picks for
    ``bind(0)`` is free again the moment this returns, and the kernel may hand it to an
    outgoing connection or to another ``bind(0)`` before the caller binds it (a CI run
    lost a test module to exactly that: "Failed to bind to address"). The kernel never
    picks a port below its ephemeral range, and this process never hands one out twice.
    Processes that draw at the same time from one machine (the test suite's pytest-xdist
    workers and what they start) each take their own slice of the window when
    ``CERTSEAL_PORT_SLICE`` says ``i/n`` (the i-th of n, from 0), and every drawn port
    is leased machine-wide (:func:`_leased`), so that none draws a port another drew
    and has not bound yet.

    Raises:
        OSError: no free port was found in 200 tries.
    """
    low, high = port_window()
    for _ in range(200):
        port = secrets.randbelow(high - low + 1) + low
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        if not _leased(port):
            continue
        _handed_out.add(port)
        return port
    raise OSError(f"no free loopback port in {low}..{high}")


def _leased(port: int, now: float | None = None) -> bool:
    """Lease ``port`` to this process: True when no other process holds a lease of it
    younger than :data:`LEASE_S` (then the lease is this process's, for that long).
    The leases are files of :data:`LEASE_DIR`, read and written under one ``flock``;
    a folder that cannot be used leases nothing (True: the slices still hold)."""
    now = time.time() if now is None else now
    try:
        LEASE_DIR.mkdir(mode=0o700, exist_ok=True)
        with open(LEASE_DIR / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            lease = LEASE_DIR / str(port)
            with contextlib.suppress(FileNotFoundError):
                if now - lease.stat().st_mtime < LEASE_S:
                    return False
            lease.touch()
            os.utime(lease, (now, now))
            return True
    except OSError:
        return True
