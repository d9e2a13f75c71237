"""``free_port`` (certseal/ports.py): ports a server binds later, never ones the kernel
hands out itself, nor one another process drew and has not bound yet."""

from __future__ import annotations

import itertools
import os
import socket
import time

from certseal import ports as devstack
from certseal.ports import free_port


def test_ports_come_from_below_the_ephemeral_range_and_are_never_repeated():
    low = devstack._ephemeral_low()
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= port < low for port in ports)


def _lease_ended(*ports: int) -> None:
    """The leases of ``ports`` (drawn here) as if LEASE_S had passed."""
    stale = time.time() - devstack.LEASE_S - 1
    for port in ports:
        os.utime(devstack.LEASE_DIR / str(port), (stale, stale))


def test_a_port_in_use_is_not_handed_out(monkeypatch):
    low = devstack.port_window()[0]
    taken, free = free_port(), free_port()
    _lease_ended(taken, free)
    with socket.socket() as held:
        held.bind(("127.0.0.1", taken))
        held.listen()
        # the first two tries land on the held port, the third on a free one
        picks = iter([taken - low, taken - low, free - low])
        monkeypatch.setattr(devstack.secrets, "randbelow", lambda _n: next(picks))
        monkeypatch.setattr(devstack, "_handed_out", set())
        assert free_port() == free


def test_an_unreadable_range_falls_back_to_the_linux_default(monkeypatch, tmp_path):
    monkeypatch.setattr(devstack, "_EPHEMERAL_RANGE", tmp_path / "absent")
    assert devstack._ephemeral_low() == 32768


def test_each_worker_draws_from_a_slice_of_its_own(monkeypatch):
    monkeypatch.delenv(devstack.PORT_SLICE, raising=False)
    low, high = devstack.port_window()
    slices = []
    for index in range(3):
        monkeypatch.setenv(devstack.PORT_SLICE, f"{index}/3")
        slices.append(devstack.port_window())
        drawn = [free_port() for _ in range(50)]
        assert all(slices[-1][0] <= port <= slices[-1][1] for port in drawn)
    assert slices[0][0] == low and slices[2][1] <= high
    # apart: each slice ends below the next one's start
    assert all(a[1] < b[0] for a, b in itertools.pairwise(slices))


def test_a_value_that_is_no_slice_is_ignored(monkeypatch):
    monkeypatch.delenv(devstack.PORT_SLICE, raising=False)
    whole = devstack.port_window()
    for value in ("", "2/2", "1/0", "x/2", "1", "-1/2", "1/2/3"):
        monkeypatch.setenv(devstack.PORT_SLICE, value)
        assert devstack.port_window() == whole, value


def test_each_pytest_xdist_worker_has_its_slice():
    # tests/conftest.py's pytest_configure; a run in one process has none
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    expected = None if worker is None else f"{int(worker.removeprefix('gw'))}/{count}"
    assert os.environ.get(devstack.PORT_SLICE) == expected


def test_a_port_another_process_leased_is_skipped_until_its_lease_ends(monkeypatch):
    """A CI run's verifier found its drawn port bound by another process that drew
    it too (a worker and the certseal run it started share a slice): a drawn port is
    leased machine-wide for LEASE_S."""
    low = devstack.port_window()[0]
    leased, free = free_port(), free_port()
    _lease_ended(free)
    monkeypatch.setattr(devstack, "_handed_out", set())  # as another process
    picks = iter([leased - low, free - low])
    monkeypatch.setattr(devstack.secrets, "randbelow", lambda _n: next(picks))
    assert free_port() == free  # the lease of `leased` is younger than LEASE_S
    _lease_ended(leased)
    monkeypatch.setattr(devstack, "_handed_out", set())
    picks = iter([leased - low])
    assert free_port() == leased  # an ended lease is taken again
    assert not devstack._leased(leased)  # and is this process's now


def test_a_lease_folder_that_cannot_be_used_leases_nothing(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(devstack, "LEASE_DIR", tmp_path / "file" / "leases")
    assert devstack._leased(free_port())
