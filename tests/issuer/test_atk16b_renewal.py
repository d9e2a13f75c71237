"""atk16b F3: renewing a licence that is not yet valid made it valid at once (fixed:
it keeps its start, services/issuer/renewal.py).

A renewal's new version is valid from now by default, and a ``valid_from`` after now
is refused (``services/issuer/renewal.py``: it supersedes the current version at
once). For a licence issued to start later (a permit from next month), that moves its
start forward to the moment of the renewal: the holder can use it (authorise, redeem,
present) weeks before the issuer meant, and there is no way to renew it and keep its
start. The kind: the rule keeps the old end from shortening but not the old start
from moving earlier.
"""

import datetime as dt

from certseal.rpc import Caller
from services.issuer.domain import Action, Holder
from services.issuer.service.issuance import IssueInput
from tests.conftest import make_department


async def test_renewing_a_licence_not_yet_valid_keeps_its_start(
    issuer, operator, connect
):
    department = await make_department(operator, connect)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    service = issuer.make_service(lambda: now)
    caller = Caller("dept", department.code)
    start = now + dt.timedelta(days=30)
    old = await service.issue(
        caller,
        IssueInput(
            department.type_code,
            Holder("王五", "111", "440301199001011234"),
            {"class": "C1"},
            valid_from=start,
        ),
    )
    assert old.valid_from == start
    new = await service.new_version(caller, old.lineage, Action.RENEW)
    assert new.valid_from == old.valid_from, (new.valid_from, old.valid_from)
