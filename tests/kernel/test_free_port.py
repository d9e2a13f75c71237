"""``free_port``: ports a server binds later, never ones the kernel hands out itself."""

from __future__ import annotations

import socket

from certseal import devstack
from certseal.devstack import free_port


def test_ports_come_from_below_the_ephemeral_range_and_are_never_repeated():
    low = devstack._ephemeral_low()
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= port < low for port in ports)


def test_a_port_in_use_is_not_handed_out(monkeypatch):
    low = max(1024, devstack._ephemeral_low() - 1 - 12000)
    taken, free = free_port(), free_port()
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
