"""The issuer tests' shared world: two departments (the second may issue the first's
licence types, for transfers) and an issuer service on a clock the test moves."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import make_department


class FakeClock:
    """A clock a little after now (keys created just before are already valid)."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(scope="module")
async def world(issuer, operator, connect):
    """(sender, receiver, clock, service): a module's own departments and clock."""
    receiver = await make_department(operator, connect)
    sender = await make_department(operator, connect, type_issuers=[receiver.code])
    clock = FakeClock()
    return sender, receiver, clock, issuer.make_service(clock)
