"""What the seal service's tests on the real database share: the time they run at, a
document, and a registration request (their fixtures are in tests/seal/conftest.py)."""

from __future__ import annotations

import datetime as dt

from certseal.crypto import Suite
from services.seal.service import RegisterSealInput

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DOCUMENT = "采购合同 第 2026-118 号".encode() * 100


class FixedClock:
    """A clock that always says ``now``."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def request(owner: str, suite: Suite = Suite.SM2, **changes) -> RegisterSealInput:
    """A registration of a contract seal by ``owner``, valid from a day before NOW for
    a year, used by the owner and app:contracts."""
    values = dict(
        owner_code=owner,
        seal_type="contract",
        name="深圳市示例科技有限公司",
        suite=suite,
        valid_start=NOW - dt.timedelta(days=1),
        valid_end=NOW + dt.timedelta(days=365),
        signers=(f"dept:{owner}", "app:contracts"),
    )
    values.update(changes)
    return RegisterSealInput(**values)
